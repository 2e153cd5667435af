"""One module per screen, each owning its rx.State subclass."""
