"""Privacy requests: what is held on a customer, exported or erased."""
