"""What the parties' services refuse, in words for the person who asked."""


class PartyError(Exception):
    """Something the person can fix or needs to know; the message is for them."""


class PartyFull(PartyError):
    """The party has no place left and no waitlist to join."""
