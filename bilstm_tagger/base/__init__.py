"""What every room shares, importing nothing else of the package: the error types, atomic file
writes, tag schemes (IOB1, IOB2, IOBES, BILOU and the transitions they forbid) and where torch runs
(device, threads, torchrun's ranks)."""
