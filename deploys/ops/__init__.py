"""Custom pyinfra operations of the egov deploys (fact in, commands out, ``host.noop`` when equal)."""
