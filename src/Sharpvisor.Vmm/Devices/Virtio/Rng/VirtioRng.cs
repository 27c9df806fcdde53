using System.Security.Cryptography;

namespace Sharpvisor.Vmm.Devices.Virtio.Rng;

/// <summary>
/// virtio-rng (virtio 1.2, 5.4): fills each writable buffer with bytes from the host's CSPRNG (getrandom on
/// Linux). At most <see cref="MaxBytesPerRequest"/> per request, so a guest asking for gigabytes gets a short
/// answer, which the spec allows, instead of pinning the device thread.
/// </summary>
public sealed class VirtioRng : ThreadedVirtioDevice
{
    public const int MaxBytesPerRequest = 64 * 1024;

    private readonly byte[] _buffer = new byte[MaxBytesPerRequest];

    public override VirtioDeviceType Type => VirtioDeviceType.Entropy;

    public override string Kind => "rng";

    public override ulong DeviceFeatures => 0;

    public override IReadOnlyList<ushort> QueueMaxSizes { get; } = [64];

    public override int ConfigLength => 0;

    public override void ReadConfig(int offset, Span<byte> data) => data.Clear();


    public override void Activate(VirtioActivation activation)
    {
        ArgumentNullException.ThrowIfNull(activation);
        if (activation.Queues[0] is not { } queue)
        {
            return;
        }

        StartWorker(new DeviceWorker("virtio-rng", activation, [queue.Doorbell], [], _ => Drain(queue)));
    }

    private void Drain(VirtioQueue queue) => queue.ServeAvailable(chain =>
    {
        var bytes = _buffer.AsSpan(0, (int)Math.Min(chain.WritableLength, (uint)MaxBytesPerRequest));
        RandomNumberGenerator.Fill(bytes);
        return (uint)chain.CopyToWritable(queue.Memory, bytes);
    });
}
