"""The seeded `bench-<customers>` tenant the 500k benchmarks share (bench_workspace's database), created
and seeded with the demo data on first use, migrated to head on every use."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the app is imported only once the benchmark has chosen its database
    from app.auth.actor import Actor

PASSWORD = "Senha-forte-123"


@dataclass(frozen=True)
class BenchTenant:
    slug: str
    schema: str
    admin: "Actor"
    admin_email: str


def bench_tenant(customers: int) -> BenchTenant:
    from sqlmodel import col, select

    from app.auth.sessions import actor_for_user
    from app.crm.demo import seed_demo
    from app.platform.provisioning import SignupInput, provision_tenant
    from models.platform import Tenant, User
    from tenants.database import platform_session
    from tenants.migrations import upgrade_platform, upgrade_tenant

    upgrade_platform()
    slug = f"bench-{customers}"
    email = f"admin@{slug}.com.br"
    with platform_session() as pdb:
        tenant = pdb.exec(select(Tenant).where(Tenant.slug == slug)).first()
    if tenant is None:
        tenant = provision_tenant(
            SignupInput(
                name=f"Bench {customers}",
                slug=slug,
                admin_name="Admin",
                admin_email=email,
                admin_password=PASSWORD,
            )
        )
        seed_demo(tenant.schema_name or "", customers, progress=lambda s: print("  seed:", s))
    schema = tenant.schema_name or ""
    upgrade_tenant(schema)
    with platform_session() as pdb:
        user = pdb.exec(
            select(User).where(User.tenant_id == tenant.id, User.role == "admin").order_by(col(User.id))
        ).first()
        assert user is not None and user.id is not None
        admin = actor_for_user(pdb, user.id)
    return BenchTenant(slug=slug, schema=schema, admin=admin, admin_email=email)
