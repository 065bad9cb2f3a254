"""Sharing indicators with partner labs: STIX 2.1 bundles out, partner indicators in."""
