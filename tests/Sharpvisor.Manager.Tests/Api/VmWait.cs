using Sharpvisor.Api;

namespace Sharpvisor.Manager.Tests.Api;

/// <summary>Waiting for a VM whose guest ends by itself (the built-in guest's scenarios do).</summary>
internal static class VmWait
{
    /// <summary>The VM once it no longer runs, polled up to <paramref name="ceiling"/>; fails naming the state it stayed in.</summary>
    public static async Task<VmResource> EndedAsync(TestDaemon daemon, string vm, TimeSpan ceiling)
    {
        var deadline = DateTime.UtcNow + ceiling;
        for (var delay = 50; ; delay = Math.Min(delay * 2, 1000))
        {
            var resource = await daemon.GetAsync(vm);
            if (resource.State is not ("starting" or "running" or "stopping"))
            {
                return resource;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{vm} still {resource.State} after {ceiling}");
            await Task.Delay(delay);
        }
    }
}
