-- Members: users single sign-on admits only to approve the machines they
-- add (interactive enrollment), not to administer the fleet. Every
-- existing account stays an admin.
ALTER TABLE admins ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
