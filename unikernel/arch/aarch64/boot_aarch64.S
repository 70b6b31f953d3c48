/*
 * boot_aarch64.S - Linux arm64 Image entry for the aarch64 kvm platform.
 *
 * The image starts with the 64-byte arm64 Image header (Linux's
 * Documentation/arch/arm64/booting.rst), which is what QEMU's -kernel (and
 * Firecracker) look for: QEMU then loads the file at RAM base + text_offset,
 * passes the device tree's physical address in x0 and loads -initrd, and
 * enters at the first word, at EL1 (virt without virtualization=on) with the
 * MMU and caches off.
 *
 * This file: checks it runs at EL1, enables FP/SIMD (Wasm code uses it), zeroes
 * .bss, builds the boot page tables (link_aarch64.ld puts them in .bss), turns
 * the MMU and caches on, installs the exception vectors (a64_vectors), and
 * calls kvm_start(dtb) on the 64 KiB boot stack. The kernel runs on SP_EL0
 * (SPSel = 0): an exception switches to SP_EL1, the exception stack, so a stack
 * overflow into a guard page is still reported (as x86_64's IST does).
 *
 * Boot map (4 KiB granule, 48-bit VA, identity VA == PA):
 *   [128 MiB, 1 GiB)  2 MiB blocks, Device-nGnRE: QEMU virt's GIC, PL011, PL031,
 *                     virtio-mmio (flash at [0, 128 MiB) stays unmapped: a
 *                     null pointer faults)
 *   [1 GiB, 4 GiB)    1 GiB blocks, Normal write-back: RAM (virt's starts at
 *                     1 GiB); mmu_aarch64.c maps RAM above 4 GiB.
 */

#define TEXT_OFFSET 0x200000 /* link_aarch64.ld: linked at 0x40200000 = RAM + this */

#define MAIR_VALUE 0xff04 /* attr0 Device-nGnRE, attr1 Normal inner/outer WB RW-allocate */
#define DESC_TABLE 0x3
#define DESC_BLOCK_NORMAL 0x705 /* block, AttrIndx 1, inner shareable, AF */
#define DESC_BLOCK_DEVICE 0x60000000000401 /* block, AttrIndx 0, AF, PXN, UXN */
/* TCR_EL1: T0SZ 16, IRGN0/ORGN0 WB-WA, SH0 inner, TG0 4 KiB, EPD1 (no TTBR1 walks);
 * IPS is filled in from ID_AA64MMFR0_EL1.PARange. */
#define TCR_VALUE 0x803510
#define SCTLR_VALUE 0x30d01805 /* RES1 bits, M, C, I; A = 0 (unaligned allowed) */

	.section .text.boot, "ax", %progbits
	.globl _start
_start:
	/* ---- the arm64 Image header (64 bytes) ---- */
	b a64_entry                 /* code0 */
	.long 0                     /* code1 */
	.quad TEXT_OFFSET           /* text_offset: where in RAM the image wants to be */
	.quad _kernel_size          /* image_size, .bss and the boot stack included */
	.quad 0x2                   /* flags: little-endian, 4 KiB pages */
	.quad 0, 0, 0
	.ascii "ARM\x64"            /* magic */
	.long 0

a64_entry:
	msr daifset, #0xf           /* no interrupt is ever taken (gic_aarch64.c) */
	mov x19, x0                 /* the device tree, for kvm_start */
	mrs x1, CurrentEL
	lsr x1, x1, #2
	cmp x1, #1
	b.ne a64_wrong_el

	/* FP/SIMD at EL1 and EL0 without traps (CPACR_EL1.FPEN = 0b11). */
	mov x1, #(3 << 20)
	msr cpacr_el1, x1
	isb

	/* Zero .bss (the page tables are in it); aligned 8-byte stores work with the MMU off. */
	ldr x1, =__bss_start
	ldr x2, =__bss_end
1:	cmp x1, x2
	b.hs 2f
	str xzr, [x1], #8
	b 1b
2:
	/* L0[0] -> L1; L1[0] -> L2 (devices); L1[1..3] RAM blocks. */
	ldr x1, =a64_boot_l0
	ldr x2, =a64_boot_l1
	orr x3, x2, #DESC_TABLE
	str x3, [x1]
	ldr x4, =a64_boot_l2_dev
	orr x3, x4, #DESC_TABLE
	str x3, [x2]
	ldr x5, =DESC_BLOCK_NORMAL
	mov x6, #1
3:	lsl x3, x6, #30
	orr x3, x3, x5
	str x3, [x2, x6, lsl #3]
	add x6, x6, #1
	cmp x6, #4
	b.lo 3b
	ldr x5, =DESC_BLOCK_DEVICE
	mov x6, #64                 /* 128 MiB / 2 MiB */
4:	lsl x3, x6, #21
	orr x3, x3, x5
	str x3, [x4, x6, lsl #3]
	add x6, x6, #1
	cmp x6, #512
	b.lo 4b
	dsb sy

	ldr x1, =MAIR_VALUE
	msr mair_el1, x1
	ldr x1, =TCR_VALUE
	mrs x2, id_aa64mmfr0_el1
	and x2, x2, #7
	cmp x2, #5                  /* 48 bits at most: the VA size */
	mov x3, #5
	csel x2, x2, x3, ls
	bfi x1, x2, #32, #3
	msr tcr_el1, x1
	ldr x1, =a64_boot_l0
	msr ttbr0_el1, x1
	isb
	tlbi vmalle1
	dsb nsh
	isb
	ldr x1, =SCTLR_VALUE
	msr sctlr_el1, x1
	isb

	ldr x1, =a64_vectors
	msr vbar_el1, x1
	/* SP_EL1: the exception stack; then run on SP_EL0. */
	ldr x1, =a64_exc_stack_top
	mov sp, x1
	msr spsel, #0
	ldr x1, =a64_boot_stack_top
	mov sp, x1
	mov x29, #0
	mov x30, #0
	mov x0, x19
	bl kvm_start
5:	wfi
	b 5b

a64_wrong_el:                       /* EL2/EL3 entry: not supported (yet); stop */
	wfi
	b a64_wrong_el

/* void a64_run_on_stack(void *top, void (*fn)(void *), void *arg): switch the
 * current stack (SP_EL0) to top (16-byte aligned) and call fn(arg); never returns. */
	.text
	.globl a64_run_on_stack
	.type a64_run_on_stack, %function
a64_run_on_stack:
	mov sp, x0
	mov x29, #0
	mov x0, x2
	blr x1
6:	wfi
	b 6b

/* ---- exception vectors ----------------------------------------------------
 * 16 entries of 128 bytes. The kernel runs at EL1 on SP_EL0, so its
 * exceptions arrive at the "current EL, SP0" group; the others (SPx: a fault
 * in the handler itself; lower EL: never, nothing runs at EL0) are reported
 * the same way. Each entry saves x0..x30 and the exception registers on the
 * exception stack (SP_EL1) and calls a64_trap_handler(frame, kind), which
 * either reports and exits, or rewrites the frame's elr/spsr so that the eret
 * below resumes in a64_fault_resume (the out-of-bounds trap, on the kernel's
 * stack). */
#define FRAME_SIZE 288 /* x0..x30, sp_el0, elr, spsr, esr, far: 36 words */

.macro vector kind
	.balign 128
	sub sp, sp, #FRAME_SIZE
	stp x0, x1, [sp, #0]
	mov x0, #\kind
	b a64_exception_common
.endm

	.section .text.vectors, "ax", %progbits
	.balign 2048
	.globl a64_vectors
a64_vectors:
	vector 0   /* current EL, SP0: synchronous */
	vector 1   /* IRQ */
	vector 2   /* FIQ */
	vector 3   /* SError */
	vector 4   /* current EL, SPx */
	vector 5
	vector 6
	vector 7
	vector 8   /* lower EL, AArch64 */
	vector 9
	vector 10
	vector 11
	vector 12  /* lower EL, AArch32 */
	vector 13
	vector 14
	vector 15

a64_exception_common:
	stp x2, x3, [sp, #16]
	stp x4, x5, [sp, #32]
	stp x6, x7, [sp, #48]
	stp x8, x9, [sp, #64]
	stp x10, x11, [sp, #80]
	stp x12, x13, [sp, #96]
	stp x14, x15, [sp, #112]
	stp x16, x17, [sp, #128]
	stp x18, x19, [sp, #144]
	stp x20, x21, [sp, #160]
	stp x22, x23, [sp, #176]
	stp x24, x25, [sp, #192]
	stp x26, x27, [sp, #208]
	stp x28, x29, [sp, #224]
	mrs x2, sp_el0
	stp x30, x2, [sp, #240]
	mrs x2, elr_el1
	mrs x3, spsr_el1
	stp x2, x3, [sp, #256]
	mrs x2, esr_el1
	mrs x3, far_el1
	stp x2, x3, [sp, #272]
	mov x1, x0                  /* kind */
	mov x0, sp                  /* frame */
	bl a64_trap_handler
	/* Resume as the frame says (a64_trap_handler changed elr/spsr/x0). */
	ldp x2, x3, [sp, #256]
	msr elr_el1, x2
	msr spsr_el1, x3
	ldp x30, x2, [sp, #240]
	msr sp_el0, x2
	ldp x0, x1, [sp, #0]
	ldp x2, x3, [sp, #16]
	ldp x4, x5, [sp, #32]
	ldp x6, x7, [sp, #48]
	ldp x8, x9, [sp, #64]
	ldp x10, x11, [sp, #80]
	ldp x12, x13, [sp, #96]
	ldp x14, x15, [sp, #112]
	ldp x16, x17, [sp, #128]
	ldp x18, x19, [sp, #144]
	ldp x20, x21, [sp, #160]
	ldp x22, x23, [sp, #176]
	ldp x24, x25, [sp, #192]
	ldp x26, x27, [sp, #208]
	ldp x28, x29, [sp, #224]
	add sp, sp, #FRAME_SIZE
	eret

/* ---- boot data: page tables and stacks (NOLOAD sections of link_aarch64.ld) ---- */
	.section .bss.pagetables, "aw", %nobits
	.balign 4096
	.globl a64_boot_l0, a64_boot_l1, a64_boot_l2_dev
a64_boot_l0:
	.space 4096
a64_boot_l1:
	.space 4096
a64_boot_l2_dev:
	.space 4096

	.section .stack, "aw", %nobits
	.balign 16
	.globl a64_boot_stack_low
a64_boot_stack_low:
	.space 65536
a64_boot_stack_top:
	.space 4096                 /* guard between the two stacks, left mapped */
	.space 16384
a64_exc_stack_top:
