/* boot.S - PVH entry, long-mode switch, AP trampoline, static page tables.
 *
 * PVH enters at pvh_entry in 32-bit protected mode, paging off, flat segments,
 * EBX = physical address of struct hvm_start_info. We switch to long mode using
 * page tables that are fully built at assembly time (no boot-time loop: every
 * guest instruction is expensive under an instruction emulator). */

#define MSR_EFER   0xc0000080
#define EFER_LME   0x100
#define CR4_PAE    0x20
#define CR0_PE_PG  0x80000001
#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_CODE32 0x18
#define AP_STACK_SIZE 4096
#define MAX_APS    255

/* ---- PVH ELF note: XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen" ---- */
	.section .note.Xen, "a", @note
	.p2align 2
	.long 4, 4, 18
	.asciz "Xen"
	.long pvh_entry

	.section .text.boot, "ax"
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	cld
	lgdt gdt_ptr
	movl $bsp_long, %ebp
	jmp enter_long

/* APs arrive here from the real-mode trampoline with CS = SEL_CODE32. */
ap_entry32:
	cld
	movl $ap_long, %ebp
	/* fall through */

/* Common 32-bit -> 64-bit switch; EBP selects the 64-bit continuation. EBX is preserved. */
enter_long:
	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $CR0_PE_PG, %eax
	movl %eax, %cr0
	/* Far jumps, not push+lret: the PVH ABI leaves ESP undefined, and APs
	 * arrive here at the same time with no stack of their own yet. */
	cmpl $bsp_long, %ebp
	jne 1f
	ljmp $SEL_CODE64, $bsp_long
1:	ljmp $SEL_CODE64, $ap_long

	.code64
bsp_long:
	movl $SEL_DATA, %eax
	movl %eax, %fs
	movl %eax, %gs
	leaq bsp_stack_top(%rip), %rsp
	movl %ebx, %edi            /* kmain(struct hvm_start_info *) */
	call kmain
	jmp halt_forever

ap_long:
	movl $SEL_DATA, %eax
	movl %eax, %fs
	movl %eax, %gs
	/* Claim a private stack slot; more APs than slots just halt. */
	movl $1, %eax
	lock xaddl %eax, ap_slot(%rip)
	cmpl $MAX_APS, %eax
	jae halt_forever
	incl %eax
	imull $AP_STACK_SIZE, %eax
	leaq ap_stacks(%rip), %rsp
	addq %rax, %rsp
	call ap_main
	/* fall through */

	.globl halt_forever
halt_forever:
	cli
	hlt
	jmp halt_forever

/* ---- AP real-mode trampoline: copied to 0x8000 by the BSP (SIPI vector 0x08).
 * Position independent: CS = 0x0800, so DS = CS makes labels trampoline-relative. */
	.section .rodata
	.code16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	cli
	movw %cs, %ax
	movw %ax, %ds
	lgdtl ap_tramp_gdtptr - ap_tramp_start
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $ap_entry32
	.p2align 2
ap_tramp_gdtptr:
	.word gdt_end - gdt - 1
	.long gdt
ap_tramp_end:
	.code64

/* ---- GDT (accessed bits preset so loading a selector never writes the GDT) ---- */
	.section .data
	.p2align 3
gdt:
	.quad 0
	.quad 0x00af9b000000ffff   /* 0x08 64-bit code */
	.quad 0x00cf93000000ffff   /* 0x10 flat data */
	.quad 0x00cf9b000000ffff   /* 0x18 flat 32-bit code (AP trampoline) */
gdt_end:
	.p2align 1
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt
ap_slot:
	.long 0

/* ---- Identity page tables for the first 4 GiB, 2 MiB pages.
 * 3-4 GiB (the MMIO hole: LAPIC, IOAPIC) is mapped uncached (PCD|PWT).
 * Higher RAM is mapped on demand by memory.c from pt_pool. */
	.section .data.pagetables, "aw"
	.p2align 12
	.globl pml4
pml4:
	.quad pdpt0 + 0x3
	.fill 511, 8, 0
pdpt0:
	.quad pd0 + 0x3, pd0 + 0x1003, pd0 + 0x2003, pd0 + 0x3003
	.fill 508, 8, 0
pd0:
	.set addr, 0
	.rept 1536
	.quad addr + 0x83          /* present, writable, 2 MiB page */
	.set addr, addr + 0x200000
	.endr
	.rept 512
	.quad addr + 0x9b          /* + PWT|PCD for the MMIO hole */
	.set addr, addr + 0x200000
	.endr

/* ---- Big buffers: NOBITS and never zeroed (nothing relies on their contents). */
	.section .noinit, "aw", @nobits
	.p2align 12
	.globl pt_pool
pt_pool:
	.skip 32 * 4096
	.skip 16384
bsp_stack_top:
ap_stacks:
	.skip MAX_APS * AP_STACK_SIZE

	.section .note.GNU-stack, "", @progbits
