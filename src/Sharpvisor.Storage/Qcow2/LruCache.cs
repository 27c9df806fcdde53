namespace Sharpvisor.Storage.Qcow2;

/// <summary>A bounded map that forgets its least recently used entry first; the owner decides what eviction costs.</summary>
internal sealed class LruCache<TKey, TValue>(int capacity)
    where TKey : notnull
{
    private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TValue Value)>> _map = [];
    private readonly LinkedList<(TKey Key, TValue Value)> _order = new();

    public int Capacity { get; } = Math.Max(1, capacity);

    public int Count => _map.Count;

    public IEnumerable<TValue> Values => _order.Select(entry => entry.Value);

    public bool TryGet(TKey key, out TValue value)
    {
        if (_map.TryGetValue(key, out var node))
        {
            _order.Remove(node);
            _order.AddFirst(node);
            value = node.Value.Value;
            return true;
        }

        value = default!;
        return false;
    }

    /// <summary>The entry that would go next, if the cache is full.</summary>
    public bool TryPeekVictim(out TValue value)
    {
        if (_map.Count >= Capacity && _order.Last is { } last)
        {
            value = last.Value.Value;
            return true;
        }

        value = default!;
        return false;
    }

    /// <summary>Adds an entry, dropping the least recently used one when full.</summary>
    public void Add(TKey key, TValue value)
    {
        while (_map.Count >= Capacity && _order.Last is { } last)
        {
            _order.RemoveLast();
            _map.Remove(last.Value.Key);
        }

        _map[key] = _order.AddFirst((key, value));
    }
}
