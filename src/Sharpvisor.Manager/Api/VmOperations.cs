using System.Collections.Concurrent;
using Sharpvisor.Api;
using Sharpvisor.Manager.Store;
using Sharpvisor.Manager.Supervisor;

namespace Sharpvisor.Manager.Api;

/// <summary>
/// What the API does to VMs, over the store and the supervisor. Every change to one VM (update, delete, start, stop,
/// kill, pause, resume, reboot) runs under that VM's gate, so a second action waits for the first and then sees the
/// state it left (ten concurrent starts: one starts, nine get 409). Actions are not cancelled when the client goes
/// away: a start half done would leave a VM half started.
/// </summary>
public sealed partial class VmOperations(IVmStore store, VmSupervisor supervisor, ManagerOptions options)
{
    private readonly ConcurrentDictionary<Guid, SemaphoreSlim> _gates = new();

    public IVmStore Store => store;

    public VmSupervisor Supervisor => supervisor;

    /// <summary>The VM named by <paramref name="vm"/>: its id (a GUID) or its name; <see cref="UnknownVmException"/> when none.</summary>
    public async Task<VmDefinition> ResolveAsync(string vm, CancellationToken cancellationToken = default)
    {
        var definition = Guid.TryParse(vm, out var id)
            ? await store.GetAsync(id, cancellationToken).ConfigureAwait(false)
            : await store.GetByNameAsync(vm, cancellationToken).ConfigureAwait(false);
        return definition ?? throw new UnknownVmException(vm);
    }

    public async Task<IReadOnlyList<VmResource>> ListAsync(VmState? state, CancellationToken cancellationToken = default)
    {
        var pids = Pids();
        var entries = await store.ListAsync(state, cancellationToken).ConfigureAwait(false);
        return [.. entries.Select(e => VmMapping.ToResource(e.Definition, e.State, pids.GetValueOrDefault(e.Definition.Id)))];
    }

    public async Task<VmResource> GetAsync(string vm, CancellationToken cancellationToken = default) =>
        await ResourceAsync((await ResolveAsync(vm, cancellationToken).ConfigureAwait(false)).Id, cancellationToken).ConfigureAwait(false);

    public async Task<VmResource> CreateAsync(VmSpec spec)
    {
        var created = await store.CreateAsync(Checked(VmMapping.ToNewDefinition(spec)), CancellationToken.None).ConfigureAwait(false);
        return await ResourceAsync(created.Id).ConfigureAwait(false);
    }

    /// <summary>The definition when it is valid and its files are usable on this host; else a 400 naming each field.</summary>
    private VmDefinition Checked(VmDefinition definition) => CheckedAndResolved(definition).Definition;

    /// <summary>The definition as given (to store) and with its paths resolved (to run), once it passed every check.</summary>
    private (VmDefinition Definition, VmDefinition Resolved) CheckedAndResolved(VmDefinition definition)
    {
        var problems = definition.Validate();
        var resolved = definition;
        if (problems.Count == 0)
        {
            (resolved, problems) = VmHostChecks.Resolve(definition, options.EffectiveStorageRoots, options.DataDirectory);
        }

        return problems.Count == 0 ? (definition, resolved) : throw new VmValidationException(problems);
    }

    /// <summary>Changes a VM that does not run; what <paramref name="spec"/> leaves out keeps its value.</summary>
    public async Task<VmResource> UpdateAsync(string vm, VmSpec spec)
    {
        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        return await SerializedAsync(id, async () =>
        {
            var current = await store.GetAsync(id).ConfigureAwait(false) ?? throw new VmNotFoundException(id);
            await RequireStoppedAsync(id, "update").ConfigureAwait(false);
            if (spec.Version is { } version && version != current.Version)
            {
                throw new VmVersionConflictException(id, version, current.Version);
            }

            var merged = VmMapping.Merge(current, spec);
            if (!merged.IsTemplate || !merged.Disks.SequenceEqual(current.Disks))
            {
                await RequireNoClonesAsync(current, merged.IsTemplate ? "change the disks of" : "turn into an ordinary VM the").ConfigureAwait(false);
            }

            await store.UpdateAsync(Checked(merged)).ConfigureAwait(false);
            return await ResourceAsync(id).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>Deletes a VM that does not run.</summary>
    public async Task DeleteAsync(string vm)
    {
        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        await SerializedAsync(id, async () =>
        {
            await RequireStoppedAsync(id, "delete").ConfigureAwait(false);
            await RequireNoClonesAsync(await store.GetAsync(id).ConfigureAwait(false) ?? throw new VmNotFoundException(id), "delete").ConfigureAwait(false);
            if (!await store.DeleteAsync(id).ConfigureAwait(false))
            {
                throw new VmNotFoundException(id);
            }

            return true;
        }).ConfigureAwait(false);
    }

    /// <summary>Starts the VM; returns once it runs, or with the state it ended in when the guest ended at once or failed.</summary>
    public async Task<VmResource> StartAsync(string vm)
    {
        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        return await SerializedAsync(id, async () =>
        {
            await StartUnderGateAsync(id).ConfigureAwait(false);
            return await ResourceAsync(id).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>Control <c>stop</c>, SIGKILL after <paramref name="timeout"/>; returns once the VMM exited.</summary>
    public Task<VmResource> StopAsync(string vm, TimeSpan timeout) =>
        ActAsync(vm, "stop", id => supervisor.StopAsync(id, timeout, CancellationToken.None), VmState.Running, VmState.Paused, VmState.Stopping);

    public Task<VmResource> KillAsync(string vm) =>
        ActAsync(vm, "kill", id => supervisor.KillAsync(id, CancellationToken.None), VmState.Running, VmState.Paused, VmState.Stopping);

    public Task<VmResource> PauseAsync(string vm) =>
        ActAsync(vm, "pause", id => supervisor.PauseAsync(id, CancellationToken.None), VmState.Running, VmState.Paused);

    public Task<VmResource> ResumeAsync(string vm) =>
        ActAsync(vm, "resume", id => supervisor.ResumeAsync(id, CancellationToken.None), VmState.Running, VmState.Paused);

    /// <summary>A stop (as <see cref="StopAsync"/>) and a start as one action: nothing else runs on the VM in between.</summary>
    public async Task<VmResource> RebootAsync(string vm, TimeSpan stopTimeout)
    {
        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        return await SerializedAsync(id, async () =>
        {
            await RequireSupervisedAsync(id, "reboot", VmState.Running, VmState.Paused, VmState.Stopping).ConfigureAwait(false);
            await supervisor.StopAsync(id, stopTimeout, CancellationToken.None).ConfigureAwait(false);
            await StartUnderGateAsync(id).ConfigureAwait(false);
            return await ResourceAsync(id).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>The VM as the API shows it, with the pid of its VMM while one runs.</summary>
    public async Task<VmResource> ResourceAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var definition = await store.GetAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new VmNotFoundException(id);
        var state = await store.GetStateAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new VmNotFoundException(id);
        return VmMapping.ToResource(definition, state, Pids().GetValueOrDefault(id));
    }

    private Dictionary<Guid, int?> Pids() =>
        supervisor.List().Where(s => VmMapping.IsActive(s.State)).ToDictionary(s => s.VmId, s => s.Pid);

    private async Task StartUnderGateAsync(Guid id, string? restoreFrom = null)
    {
        // Checked again: the files may have moved (or become links out of the roots) since the definition was taken,
        // or it predates the roots. The VMM gets the paths resolved, so a link swapped in later is not followed.
        var stored = await store.GetAsync(id).ConfigureAwait(false) ?? throw new VmNotFoundException(id);
        RequireNotTemplate(stored);
        var definition = CheckedAndResolved(stored).Resolved;
        await RequireNoTemplateDiskWrittenAsync(definition).ConfigureAwait(false);
        try
        {
            await supervisor.StartAsync(definition, restoreFrom, CancellationToken.None).ConfigureAwait(false);
        }
        catch (VmStartException)
        {
            // Recorded as failed (or crashed), with the reason: the answer is the VM in that state, as for a guest that ended at once.
        }
    }

    private async Task<VmResource> ActAsync(string vm, string action, Func<Guid, Task<VmStatus>> act, params VmState[] allowed)
    {
        var id = (await ResolveAsync(vm).ConfigureAwait(false)).Id;
        return await SerializedAsync(id, async () =>
        {
            await RequireSupervisedAsync(id, action, allowed).ConfigureAwait(false);
            await act(id).ConfigureAwait(false);
            return await ResourceAsync(id).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>409 unless the supervisor runs the VM in one of <paramref name="allowed"/> (the message says the state the user sees).</summary>
    private async Task RequireSupervisedAsync(Guid id, string action, params VmState[] allowed)
    {
        var known = supervisor.List().FirstOrDefault(s => s.VmId == id);
        if (known is null || Array.IndexOf(allowed, known.State) < 0)
        {
            var stored = await store.GetStateAsync(id).ConfigureAwait(false) ?? throw new VmNotFoundException(id);
            throw new VmStateConflictException(id, known?.State ?? stored.State, action);
        }
    }

    private async Task RequireStoppedAsync(Guid id, string action)
    {
        var stored = await store.GetStateAsync(id).ConfigureAwait(false) ?? throw new VmNotFoundException(id);
        var known = supervisor.List().FirstOrDefault(s => s.VmId == id)?.State;
        if (VmMapping.IsActive(stored.State) || known is { } k && VmMapping.IsActive(k))
        {
            throw new VmStateConflictException(id, VmMapping.IsActive(stored.State) ? stored.State : known!.Value, action);
        }
    }

    private async Task<T> SerializedAsync<T>(Guid id, Func<Task<T>> action)
    {
        var gate = _gates.GetOrAdd(id, static _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            return await action().ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }
}
