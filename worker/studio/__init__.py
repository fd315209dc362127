"""What the studio keeps in the database: versions of templates and trigger files and their
publishing, the people who may use the studio and their roles, and the audit log."""
