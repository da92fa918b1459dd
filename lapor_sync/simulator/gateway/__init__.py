"""``lapor-sync simulator --gateway splp``: a WSO2-API-Manager-like SPLP gateway in front of the simulator.

CONTRACT §7: the SPLP key in its own header (``keys``), WSO2 fault bodies in JSON or XML
(``faults``), a per-minute quota per key (``quota``), faults a test scripts (``script``), the ASGI
layer that applies them in order (``middleware``), its settings and state (``model``) and its
simulator-only endpoints (``admin``). The production and sandbox base paths and the endpoint
variants are routes of the app (:mod:`lapor_sync.simulator.paths`).
"""
