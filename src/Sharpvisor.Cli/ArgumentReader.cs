using System.Globalization;

namespace Sharpvisor.Cli;

/// <summary>
/// A small GNU-style option reader: "--name value", "--name=value" and flags. Unknown options and
/// missing values are usage errors naming the option.
/// </summary>
internal sealed class ArgumentReader
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);

    public ArgumentReader(string[] args, IReadOnlySet<string> valueOptions, IReadOnlySet<string> flagOptions)
    {
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"unexpected argument '{arg}'");
            }

            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            var name = equals > 0 ? arg[..equals] : arg;
            if (flagOptions.Contains(name))
            {
                if (equals > 0)
                {
                    throw new UsageException($"{name} takes no value");
                }

                _values[name] = null;
            }
            else if (valueOptions.Contains(name))
            {
                if (equals > 0)
                {
                    _values[name] = arg[(equals + 1)..];
                }
                else if (i + 1 < args.Length)
                {
                    _values[name] = args[++i];
                }
                else
                {
                    throw new UsageException($"{name} needs a value");
                }
            }
            else
            {
                throw new UsageException($"unknown option '{name}'");
            }
        }
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string? Get(string name) => _values.GetValueOrDefault(name);

    public int GetInt(string name, int defaultValue)
    {
        var text = Get(name);
        if (text is null)
        {
            return defaultValue;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new UsageException($"{name} '{text}' is not a whole number");
    }
}
