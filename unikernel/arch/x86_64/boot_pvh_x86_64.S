/*
 * boot_pvh_x86_64.S - PVH entry for x86_64: 32-bit protected mode -> long mode.
 *
 * The PVH boot protocol (Xen's "HVM direct boot", also used by QEMU,
 * Firecracker and Cloud Hypervisor) enters at the address given by an ELF
 * note of type XEN_ELFNOTE_PHYS32_ENTRY (18) with:
 *   - 32-bit protected mode, paging off, flat 4 GiB CS/DS/ES/SS;
 *   - %ebx = physical address of the hvm_start_info structure;
 *   - nothing else guaranteed: no stack, GDTR/IDTR unspecified.
 *
 * This file: loads a GDT, zeroes .bss (-DWK_KVM_CLEAR_MEM=ON only), identity-maps the first 4 GiB with
 * 2 MiB pages (platform C code extends the map above 4 GiB when RAM is there),
 * enables PAE, long mode, paging and SSE, far-jumps to 64-bit code, switches to
 * the boot stack and calls kvm_start(start_info_paddr). kvm_start never returns.
 * x86_run_on_stack (below) moves it to the run's stack.
 */

#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR0_NE (1 << 5)
#define CR0_WP (1 << 16)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define CR4_OSXSAVE (1 << 18)
/* XCR0 state the kernel turns on when the CPU has it: x87, SSE, AVX, and AVX-512's
 * opmask, ZMM_Hi256 and Hi16_ZMM. */
#define XCR0_WANTED 0xe7
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_PS 0x80

#define GDT_CODE64 0x08
#define GDT_DATA 0x10

#define DEBUG_EXIT_PORT 0xf4

/* ---- the PVH ELF note: name "Xen", type 18, desc = 32-bit entry ---------- */
	.section .note.Xen, "a", @note
	.p2align 2
	.long 4                 /* namesz, including NUL */
	.long 4                 /* descsz */
	.long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start32

/* ---- 32-bit entry ------------------------------------------------------- */
	.section .text.boot, "ax", @progbits
	.code32
	.globl pvh_start32
	.type pvh_start32, @function
pvh_start32:
	cli
	cld
	movl %ebx, %esi                 /* keep start_info across the setup */

	lgdt gdt_ptr
	movl $GDT_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs

#if WK_KVM_CLEAR_MEM
	/* Zero .bss (the boot stack lives after it and is not zeroed). Only when built
	 * for a loader that leaves it dirty: QEMU's ELF loader writes the zeros of every
	 * PT_LOAD segment's p_memsz beyond p_filesz itself (on each reset), and
	 * Firecracker and Cloud Hypervisor load into fresh zero-filled memory, as for the
	 * RAM above the image (start_kvm.c). Under TCG this loop over the ~1.8 MiB .bss
	 * of a networked image cost ~2.5 ms of every boot (bench/kvm_first_response.py). */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl
#endif

	/* Long mode available? (CPUID 0x80000001: EDX bit 29) */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc no_long_mode

	/* PML4[0] -> PDPT; PDPT[0..3] -> 4 page directories of 2 MiB pages. */
	movl $boot_pdpt, %eax
	orl $(PTE_P | PTE_W), %eax
	movl %eax, boot_pml4

	movl $boot_pd, %eax
	orl $(PTE_P | PTE_W), %eax
	movl $boot_pdpt, %edi
	movl $4, %ecx
1:	movl %eax, (%edi)
	addl $4096, %eax
	addl $8, %edi
	loop 1b

	/* 2048 entries, entry i maps [i * 2 MiB, (i + 1) * 2 MiB): all below
	 * 4 GiB, so the high dword of every entry is 0. */
	movl $boot_pd, %edi
	movl $(PTE_P | PTE_W | PTE_PS), %eax
	movl $2048, %ecx
2:	movl %eax, (%edi)
	movl $0, 4(%edi)
	addl $0x200000, %eax
	addl $8, %edi
	loop 2b

	movl %cr4, %eax
	orl $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
	movl %eax, %cr4

	/* AVX and AVX-512 state, when the CPU has XSAVE (CPUID 1: ECX bit 26): code built
	 * for an x86-64 level above the baseline (bridge/cpu.py, --target-cpu) uses the VEX
	 * and EVEX encodings, which fault (#UD) until CR4.OSXSAVE is set and XCR0 enables
	 * their state. XCR0 gets what the CPU supports (CPUID 0xD.0: EAX) of XCR0_WANTED. */
	movl $1, %eax
	cpuid
	btl $26, %ecx
	jnc 4f
	movl %cr4, %eax
	orl $CR4_OSXSAVE, %eax
	movl %eax, %cr4
	movl $0xd, %eax
	xorl %ecx, %ecx
	cpuid
	andl $XCR0_WANTED, %eax
	xorl %edx, %edx
	xorl %ecx, %ecx
	xsetbv
4:

	movl $boot_pml4, %eax
	movl %eax, %cr3

	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr

	movl %cr0, %eax
	andl $~CR0_EM, %eax
	orl $(CR0_PE | CR0_MP | CR0_NE | CR0_WP | CR0_PG), %eax
	movl %eax, %cr0

	ljmp $GDT_CODE64, $pvh_start64

no_long_mode:
	/* Nothing to report with: leave through isa-debug-exit, else halt. */
	movw $DEBUG_EXIT_PORT, %dx
	movl $0x7f, %eax
	outl %eax, %dx
3:	hlt
	jmp 3b
	.size pvh_start32, . - pvh_start32

/* ---- 64-bit entry ------------------------------------------------------- */
	.code64
pvh_start64:
	movl $GDT_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs

	movabsq $boot_stack_top, %rsp
	xorl %ebp, %ebp

	fninit
	ldmxcsr boot_mxcsr

	movl %esi, %edi                 /* kvm_start(uint32_t start_info) */
	call kvm_start
4:	cli
	hlt
	jmp 4b

/* void x86_run_on_stack(void *top, void (*fn)(void *), void *arg): switch to
 * the stack ending at top (16-byte aligned) and call fn(arg); never returns. */
	.globl x86_run_on_stack
	.type x86_run_on_stack, @function
x86_run_on_stack:
	movq %rdi, %rsp
	xorl %ebp, %ebp
	movq %rsi, %rax
	movq %rdx, %rdi
	call *%rax
5:	cli
	hlt
	jmp 5b
	.size x86_run_on_stack, . - x86_run_on_stack

/* ---- data --------------------------------------------------------------- */
	.section .data.boot, "aw", @progbits
	.p2align 3
	.globl x86_boot_gdt
x86_boot_gdt:
	.quad 0                         /* 0x00 null */
	.quad 0x00af9a000000ffff        /* 0x08 64-bit code, DPL 0 */
	.quad 0x00cf92000000ffff        /* 0x10 data, DPL 0 */
	.quad 0, 0                      /* 0x18 TSS (16 bytes), filled in by C */
x86_boot_gdt_end:

	.p2align 3
	.globl x86_boot_gdt_ptr
gdt_ptr:
x86_boot_gdt_ptr:
	.word x86_boot_gdt_end - x86_boot_gdt - 1
	.quad x86_boot_gdt

	.p2align 2
boot_mxcsr:
	.long 0x1f80                    /* all exceptions masked, round to nearest */

	.section .bss, "aw", @nobits
	.p2align 12
	.globl x86_boot_pml4, x86_boot_pdpt
boot_pml4:
x86_boot_pml4:
	.skip 4096
boot_pdpt:
x86_boot_pdpt:
	.skip 4096
boot_pd:
	.skip 4 * 4096

/* The boot stack: 64 KiB, outside the zeroed .bss range (see link.ld), for
 * kvm_start only. wk_main runs on a stack kvm_start takes from RAM, so the
 * image stays small: every byte of it, even NOLOAD, is written by the loader
 * on every boot and must fit in the guest's memory. */
	.section .stack, "aw", @nobits
	.p2align 12
	.globl x86_boot_stack_low
x86_boot_stack_low:
	.skip 64 * 1024
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
