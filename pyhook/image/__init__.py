"""Making images: the build plan, compile + link, packed files, the image cache, targets and
runtimes."""
