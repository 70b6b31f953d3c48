"""Running images: QEMU and spt command lines, networking options, guest memory, the wheel
launcher."""
