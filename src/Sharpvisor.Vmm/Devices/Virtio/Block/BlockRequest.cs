using System.Buffers.Binary;
using System.Text;
using Sharpvisor.Storage;
using Sharpvisor.Vmm.Devices.Virtio.Queue;
using Sharpvisor.Vmm.Memory;

namespace Sharpvisor.Vmm.Devices.Virtio.Block;

/// <summary>
/// Executes one virtio-blk request (virtio 1.2, 5.2.6): a 16-byte header (type, reserved, sector) in the readable
/// part, data after it (writes) or before the status byte (reads), and the status byte as the last writable byte.
/// Every number comes from the guest: sizes must be whole sectors and inside the disk, or the request fails with
/// IOERR. Data moves between the file and guest RAM directly, without a bounce buffer.
/// </summary>
public static class BlockRequest
{
    public const int SectorSize = 512;
    public const int HeaderSize = 16;
    public const int IdLength = 20;
    public const int DiscardSegmentSize = 16;
    public const int MaxDiscardSegments = 16;
    public const uint MaxDiscardSectors = 0x3F_FFFF;

    public const uint TypeIn = 0;
    public const uint TypeOut = 1;
    public const uint TypeFlush = 4;
    public const uint TypeGetId = 8;
    public const uint TypeDiscard = 11;
    public const uint TypeWriteZeroes = 13;

    public const byte StatusOk = 0;
    public const byte StatusIoError = 1;
    public const byte StatusUnsupported = 2;

    /// <summary>
    /// Largest data part of one read or write. Linux never comes near it (its default request limit is 1.25 MiB);
    /// it bounds what one notification can make the device thread do. QEMU's own limit is about 2 GiB.
    /// </summary>
    public const uint MaxRequestBytes = 1 << 30;

    /// <summary>Largest piece handed to one file call: guest segments can be up to 4 GiB, spans only 2 GiB.</summary>
    private const int MaxPiece = 1 << 30;

    /// <summary>Whether the chain is a flush request (its header's type; a chain too short for a header is not).</summary>
    public static bool IsFlush(DescriptorChain chain, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(chain);
        Span<byte> header = stackalloc byte[HeaderSize];
        return chain.CopyFromReadable(memory, header) >= HeaderSize && BinaryPrimitives.ReadUInt32LittleEndian(header) == TypeFlush;
    }

    /// <summary>Runs the request and writes its status; returns the bytes written into the chain (for the used ring).</summary>
    public static uint Execute(DescriptorChain chain, GuestMemory memory, IBlockBackend disk, string id)
    {
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(disk);
        if (chain.WritableLength == 0)
        {
            return 0; // nowhere to put a status: the driver gets the chain back untouched
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        uint dataWritten = 0;
        byte status;
        if (chain.CopyFromReadable(memory, header) < HeaderSize)
        {
            status = StatusIoError;
        }
        else
        {
            var type = BinaryPrimitives.ReadUInt32LittleEndian(header);
            var sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
            var inLength = chain.WritableLength - 1u;
            var outLength = chain.ReadableLength - HeaderSize;
            try
            {
                status = type switch
                {
                    TypeIn => Transfer(chain.Writable, 0, inLength, sector, disk, memory, toGuest: true, ref dataWritten),
                    TypeOut when disk.ReadOnly => StatusIoError,
                    TypeOut => Transfer(chain.Readable, HeaderSize, outLength, sector, disk, memory, toGuest: false, ref dataWritten),
                    TypeFlush => Flush(disk),
                    TypeGetId => GetId(chain, memory, id, inLength, ref dataWritten),
                    TypeDiscard or TypeWriteZeroes when disk.ReadOnly => StatusIoError,
                    TypeDiscard or TypeWriteZeroes => Unmap(chain, memory, disk, outLength, zero: type == TypeWriteZeroes),
                    _ => StatusUnsupported,
                };
            }
            catch (IOException)
            {
                status = StatusIoError;
            }
        }

        WriteStatus(chain, memory, status);
        return dataWritten + 1;
    }

    private static byte Transfer(ReadOnlySpan<GuestSegment> segments, uint skip, uint length, ulong sector, IBlockBackend disk, GuestMemory memory, bool toGuest, ref uint dataWritten)
    {
        if (length > MaxRequestBytes || length % SectorSize != 0 || !InsideDisk(sector, length / SectorSize, disk))
        {
            return StatusIoError;
        }

        var offset = checked((long)(sector * SectorSize));
        var pieces = new SegmentCursor(segments, skip, length, MaxPiece);
        while (pieces.MoveNext(out var address, out var pieceLength))
        {
            var span = memory.GetSpan(address, pieceLength);
            if (toGuest)
            {
                disk.Read(offset, span);
                memory.MarkDirty(address, (ulong)pieceLength); // a migration must send what the disk put there
            }
            else
            {
                disk.Write(offset, span);
            }

            offset += pieceLength;
        }

        if (toGuest)
        {
            dataWritten = length;
        }

        return StatusOk;
    }

    private static byte Flush(IBlockBackend disk)
    {
        disk.Flush();
        return StatusOk;
    }

    private static byte GetId(DescriptorChain chain, GuestMemory memory, string id, uint room, ref uint dataWritten)
    {
        // A NUL-padded ASCII string of up to 20 bytes (no NUL when it uses all 20).
        Span<byte> bytes = stackalloc byte[IdLength];
        bytes.Clear();
        Encoding.ASCII.GetBytes(id.AsSpan(0, Math.Min(id.Length, IdLength)), bytes);
        var length = (int)Math.Min(room, IdLength);
        dataWritten = (uint)chain.CopyToWritable(memory, bytes[..length]);
        return StatusOk;
    }

    private static byte Unmap(DescriptorChain chain, GuestMemory memory, IBlockBackend disk, uint length, bool zero)
    {
        if (length == 0 || length % DiscardSegmentSize != 0 || length / DiscardSegmentSize > MaxDiscardSegments)
        {
            return StatusIoError;
        }

        Span<byte> segment = stackalloc byte[DiscardSegmentSize];
        for (ulong at = 0; at < length; at += DiscardSegmentSize)
        {
            chain.CopyFromReadable(memory, segment, (uint)(HeaderSize + at));
            var sector = BinaryPrimitives.ReadUInt64LittleEndian(segment);
            var count = BinaryPrimitives.ReadUInt32LittleEndian(segment[8..]);
            var flags = BinaryPrimitives.ReadUInt32LittleEndian(segment[12..]);
            if (count > MaxDiscardSectors || !InsideDisk(sector, count, disk) || (flags & ~1u) != 0 || (!zero && flags != 0))
            {
                return StatusIoError; // only write-zeroes knows a flag (UNMAP); discard has none
            }

            var offset = (long)(sector * SectorSize);
            var bytes = (long)count * SectorSize;
            if (zero)
            {
                disk.WriteZeroes(offset, bytes);
            }
            else
            {
                disk.Discard(offset, bytes);
            }
        }

        return StatusOk;
    }

    private static bool InsideDisk(ulong sector, ulong sectors, IBlockBackend disk)
    {
        var capacity = disk.Size / SectorSize;
        return sector <= capacity && sectors <= capacity - sector;
    }

    private static void WriteStatus(DescriptorChain chain, GuestMemory memory, byte status) =>
        chain.CopyToWritable(memory, [status], chain.WritableLength - 1);
}
