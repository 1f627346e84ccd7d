ALTER TABLE "auth_user" ALTER COLUMN "email" TYPE varchar(254);
