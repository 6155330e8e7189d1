"""The spec review gate: does the change comply with the project's specification?

``invoke gates.spec`` runs :func:`converge.spec.gate.execute`: find the change (:mod:`.change`),
mask what looks like a secret (:mod:`.masking`), cut it into requests that fit (:mod:`.chunks`),
ask the model for a verdict through a forced tool call (:mod:`.verdict`, :mod:`.client`), and
write the report (:mod:`.report`). Holdout scenarios are never read, let alone sent.
"""
