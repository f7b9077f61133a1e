"""Request and response bodies of the internal APIs: the serving side and its clients share them."""
