"""The use cases, one module per message: what happens to it (dispatch, collect, digest, bounces), from adapters
and domain; ``followthrough.bootstrap`` builds them."""
