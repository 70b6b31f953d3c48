/*
 * platform/spt/start_spt_x86_64.S - process entry and stack switch (no libc).
 */
	.text

/* The kernel enters here with rsp -> argc, argv[], NULL, envp[], NULL, auxv. */
	.globl _start
	.type _start, @function
_start:
	xorl %ebp, %ebp            /* outermost frame */
	movq %rsp, %rdi            /* wk_spt_start(initial stack) */
	andq $-16, %rsp            /* SysV: 16-byte aligned at the call */
	call wk_spt_start
	ud2                        /* wk_spt_start never returns */
	.size _start, . - _start

/*
 * void wk_spt_run_on_stack(void *stack_top, void (*fn)(void *), void *arg)
 * Call fn(arg) on a new stack; fn must not return.
 */
	.globl wk_spt_run_on_stack
	.type wk_spt_run_on_stack, @function
wk_spt_run_on_stack:
	andq $-16, %rdi
	movq %rdi, %rsp
	xorl %ebp, %ebp
	movq %rdx, %rdi
	call *%rsi
	ud2
	.size wk_spt_run_on_stack, . - wk_spt_run_on_stack

/* The restorer of memory_spt.c's signal handler: rt_sigreturn (15). */
	.globl wk_spt_sigreturn
	.type wk_spt_sigreturn, @function
wk_spt_sigreturn:
	movl $15, %eax
	syscall
	ud2
	.size wk_spt_sigreturn, . - wk_spt_sigreturn

	.section .note.GNU-stack, "", @progbits
