"""Shared helpers below every other subpackage: the one error type, atomic file writes,
argument checks, PSNR and file hashes. Private to the package: import from the modules."""
