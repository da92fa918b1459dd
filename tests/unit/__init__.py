"""Unit tier: domain, wire, classification, retry, watermark, and the engine on a fake platform."""
