using Sharpvisor.Vmm.State;

namespace Sharpvisor.Vmm.Devices.Pci;

/// <summary>
/// Config space's saved state: its whole image as a byte string. Of it a restore takes the bits the guest can change
/// (writable or write-1-to-clear: command, BARs, MSI-X enable and function mask, interrupt line, capability fields the
/// guest programs); every other bit is the function's identity and layout (IDs, class, BAR types, capability chain),
/// which must equal this function's, or the section describes another kind of function.
/// </summary>
public sealed partial class PciConfigSpace
{
    public void SaveState(StatePayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        payload.Bytes(_bytes);
    }

    /// <summary>
    /// Reads and checks an image <see cref="SaveState"/> wrote, changing nothing; the returned action puts it in place
    /// (write observers are not called: the caller re-derives what they would).
    /// </summary>
    public Action ReadState(ref StatePayloadReader reader, string section)
    {
        var saved = reader.Bytes(ExtendedSize);
        StateFields.Require(saved.Length == Length, section, $"config space of {saved.Length} bytes, this function's has {Length}");
        for (var i = 0; i < Length; i++)
        {
            var guestBits = _writable[i] | _writeOneToClear[i];
            if (((saved[i] ^ _bytes[i]) & ~guestBits) != 0)
            {
                throw new StateException($"section {section}: config space byte 0x{i:x3} is 0x{saved[i]:x2} where this function has 0x{_bytes[i]:x2} in bits the guest cannot write: the section is of another kind of function");
            }
        }

        // Equal outside the guest's bits, so the saved image is this function's with the guest's writes applied.
        var image = saved.ToArray();
        return () => image.CopyTo(_bytes, 0);
    }
}
