/* isr.S - interrupt entry stubs. Each stub pushes a dummy error code when the
 * CPU does not, then its vector, and jumps to one common path that saves the
 * caller-saved registers and calls isr_dispatch(struct frame *) in intr.c.
 * No SSE state is touched: the C code is built with -mgeneral-regs-only. */

	.text
	.code64

.macro STUB vec
isr_\vec:
	.if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp isr_common
.endm

	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,255
	STUB \v
	.endr

isr_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	movq %rsp, %rdi            /* 16-byte aligned here: 5+2+9 quadwords pushed */
	cld
	call isr_dispatch
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp             /* vector + error code */
	iretq

/* Handler addresses for vectors 0..52; vector 255 (APIC spurious) separately. */
	.section .rodata
	.p2align 3
	.globl isr_table, isr_spurious_stub
isr_table:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52
	.quad isr_\v
	.endr
isr_spurious_stub:
	.quad isr_255

	.section .note.GNU-stack, "", @progbits
