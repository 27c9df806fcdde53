using System.Runtime.InteropServices;
using Sharpvisor.Kvm.Interop;

namespace Sharpvisor.Kvm;

/// <summary>
/// Kicks a thread out of a blocking KVM_RUN. A vCPU thread records its pthread id; another thread sets the
/// vCPU's immediate_exit flag and sends SIGUSR1, which makes KVM_RUN return EINTR. The runtime's handler
/// for the signal is installed once (and told to do nothing), so the signal never terminates the process.
/// </summary>
public static class VcpuThreadSignal
{
    private static readonly Lock Gate = new();
    private static PosixSignalRegistration? s_registration;

    /// <summary>Installs the no-op SIGUSR1 handler. Idempotent.</summary>
    public static void EnsureInstalled()
    {
        lock (Gate)
        {
            s_registration ??= PosixSignalRegistration.Create((PosixSignal)Libc.SIGUSR1, context => context.Cancel = true);
        }
    }

    /// <summary>The calling thread's pthread id, to pass later to <see cref="Kick"/>.</summary>
    public static nuint CurrentThread() => Libc.pthread_self();

    public static void Kick(nuint thread) => _ = Libc.pthread_kill(thread, Libc.SIGUSR1);
}
