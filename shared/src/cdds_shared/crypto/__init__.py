"""Cryptography for CDDS: CMS sealing of exported files (:mod:`cdds_shared.crypto.cms`) and the
transit encryption of staged parts (:mod:`cdds_shared.crypto.transit`)."""
