ALTER TABLE "auth_permission" ALTER COLUMN "name" TYPE varchar(255);
