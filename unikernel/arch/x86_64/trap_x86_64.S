/*
 * trap_x86_64.S - entry stubs for the 32 CPU exception vectors, and for the
 * few device interrupts the kvm platform waits for while halted.
 *
 * Exceptions: each stub makes the stack uniform (a 0 error code where the CPU
 * pushes none), pushes its vector number and joins trap_common, which saves
 * the general registers and calls x86_trap_handler(frame). The handler reports
 * and exits; it never returns, so there is no iretq path.
 *
 * Interrupts (vectors X86_IRQ_BASE .. +X86_IRQ_COUNT-1, cpu_x86_64.h): the
 * kernel runs with IF=0 and enables interrupts only across `sti; hlt`
 * (x86_irq_wait), so a handler has nothing to do but note that its vector
 * fired (a bit in x86_irq_pending), signal end-of-interrupt to the local APIC
 * and return. It touches only %rax and the flags (which iretq restores), uses
 * no SSE and runs on the interrupted stack (kernel code: no red zone).
 * Vector 255 is the local APIC's spurious vector: no EOI for it.
 */
	.text

.macro TRAP_NOERR vec
	.p2align 4
trap_stub_\vec:
	pushq $0
	pushq $\vec
	jmp trap_common
.endm

.macro TRAP_ERR vec
	.p2align 4
trap_stub_\vec:
	pushq $\vec
	jmp trap_common
.endm

TRAP_NOERR 0
TRAP_NOERR 1
TRAP_NOERR 2
TRAP_NOERR 3
TRAP_NOERR 4
TRAP_NOERR 5
TRAP_NOERR 6
TRAP_NOERR 7
TRAP_ERR   8
TRAP_NOERR 9
TRAP_ERR   10
TRAP_ERR   11
TRAP_ERR   12
TRAP_ERR   13
TRAP_ERR   14
TRAP_NOERR 15
TRAP_NOERR 16
TRAP_ERR   17
TRAP_NOERR 18
TRAP_NOERR 19
TRAP_NOERR 20
TRAP_ERR   21
TRAP_NOERR 22
TRAP_NOERR 23
TRAP_NOERR 24
TRAP_NOERR 25
TRAP_NOERR 26
TRAP_NOERR 27
TRAP_NOERR 28
TRAP_ERR   29
TRAP_ERR   30
TRAP_NOERR 31

trap_common:
	cld
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	andq $-16, %rsp
	call x86_trap_handler
1:	cli
	hlt
	jmp 1b

.macro IRQ vec
	.p2align 4
irq_stub_\vec:
	pushq %rax
	movq $(1 << (\vec - 32)), %rax
	lock orq %rax, x86_irq_pending(%rip)
	jmp irq_common
.endm

IRQ 32
IRQ 33
IRQ 34
IRQ 35
IRQ 36
IRQ 37
IRQ 38
IRQ 39

irq_common:
	movq x86_lapic_eoi(%rip), %rax
	movl $0, (%rax)
	popq %rax
	iretq

	.p2align 4
	.globl x86_irq_spurious
x86_irq_spurious:
	iretq

/* The stub addresses, indexed by vector, for the IDT setup in C. */
	.section .rodata
	.p2align 3
	.globl x86_trap_stubs
x86_trap_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad trap_stub_\v
	.endr
	.globl x86_irq_stubs
x86_irq_stubs:
	.irp v, 32,33,34,35,36,37,38,39
	.quad irq_stub_\v
	.endr

	.section .note.GNU-stack, "", @progbits
