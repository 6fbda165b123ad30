"""Custom pyinfra facts of the egov deploys (typed classes with ``command`` and ``process``)."""
