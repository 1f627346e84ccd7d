ALTER TABLE "auth_user" ALTER COLUMN "last_name" TYPE varchar(150);
