"""The platform service: tenant provisioning, self-service sign-up and the superadmin operations on
tenants. Each operation checks its own permission (PLATFORM_MANAGE) and writes the platform audit log;
`tenants/` below it stays infrastructure (naming, sessions, migrations, the embedded server)."""
