from typing import Any

from integrations.models import KlaviyoConnection
from parties import services


def resume_parties(sender: type, *, connection: KlaviyoConnection, **kwargs: Any) -> None:
    """A reconnected connection resumes its paused parties without anyone asking."""
    services.parties_resume(connection=connection)
