using System.Reflection;
using Sharpvisor.Vmm.Devices.Virtio;

namespace Sharpvisor.Fuzz.Targets;

/// <summary>
/// A device's per-queue handler (virtio-net's and virtio-console's private <c>Transmit</c> and <c>Receive</c>),
/// called directly instead of from the device thread <c>Activate</c> would start: a thread per input would make
/// every execution slow and its coverage nondeterministic. The handlers take the queue and, in some versions, the
/// activation; whichever they take is passed. If a handler is renamed this fails at once with its name.
/// </summary>
internal sealed class DeviceHandler
{
    private readonly object _device;
    private readonly MethodInfo _method;
    private readonly bool[] _isQueue;

    public DeviceHandler(object device, string name)
    {
        _device = device;
        _method = device.GetType().GetMethod(name, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public)
            ?? throw new InvalidOperationException($"{device.GetType().Name}.{name} is gone: update fuzz/Sharpvisor.Fuzz/Targets to the device's new handlers");
        var parameters = _method.GetParameters();
        _isQueue = [.. parameters.Select(p => p.ParameterType == typeof(VirtioQueue))];
        if (parameters.Any(p => p.ParameterType != typeof(VirtioQueue) && p.ParameterType != typeof(VirtioActivation)))
        {
            throw new InvalidOperationException($"{device.GetType().Name}.{name} takes parameters other than the queue and the activation: update the fuzz target");
        }
    }

    /// <summary>Calls the handler; its exceptions come out as they are (not wrapped).</summary>
    public object? Invoke(VirtioQueue queue, VirtioActivation activation)
    {
        var arguments = new object[_isQueue.Length];
        for (var i = 0; i < arguments.Length; i++)
        {
            arguments[i] = _isQueue[i] ? queue : activation;
        }

        return _method.Invoke(_device, BindingFlags.DoNotWrapExceptions, null, arguments, null);
    }
}
