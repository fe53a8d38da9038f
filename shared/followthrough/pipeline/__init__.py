"""The weekly pipeline's steps (dispatch, collect, digest): adapters + domain, wired together."""
