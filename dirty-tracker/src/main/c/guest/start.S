/*
 * Guest entry. The VMM starts every vCPU here in 64-bit mode with a stack, %rdi = vCPU id and
 * %rsi = boot info. vCPU 0 runs the program; the others halt (a halted vCPU costs nothing: the VMM
 * sleeps until the next stun).
 */
    .section .text.start, "ax"
    .globl _start
_start:
    test %rdi, %rdi
    jnz 1f
    mov %rsi, %rdi
    call guest_main
1:  hlt
    jmp 1b
    .section .note.GNU-stack, "", @progbits
