using System.Globalization;

namespace Sharpvisor.Cli;

/// <summary>
/// A small GNU-style option reader: "--name value", "--name=value" and flags. Unknown options and
/// missing values are usage errors naming the option. A value option given twice keeps both: <see cref="Get"/>
/// returns the last (as most tools do), <see cref="GetAll"/> every one in order (repeatable options like --disk).
/// Commands that name a thing (<c>vm start web1</c>) allow up to <c>maxPositionals</c> plain arguments, in
/// <see cref="Positionals"/>; one more is a usage error. <c>--help</c> or <c>-h</c> anywhere asks for the command's help.
/// Hand-written rather than System.CommandLine: see docs/cli.md ("Why the argument reader is ours").
/// </summary>
internal sealed class ArgumentReader
{
    private readonly Dictionary<string, List<string?>> _values = new(StringComparer.Ordinal);

    private readonly List<string> _positionals = [];

    public ArgumentReader(string[] args, IReadOnlySet<string> valueOptions, IReadOnlySet<string> flagOptions, int maxPositionals = 0)
    {
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg is "--help" or "-h")
            {
                throw new HelpRequestedException();
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (_positionals.Count >= maxPositionals || arg.Length == 0)
                {
                    throw new UsageException($"unexpected argument '{arg}'");
                }

                _positionals.Add(arg);
                continue;
            }

            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            var name = equals > 0 ? arg[..equals] : arg;
            if (flagOptions.Contains(name))
            {
                if (equals > 0)
                {
                    throw new UsageException($"{name} takes no value");
                }

                Add(name, null);
            }
            else if (valueOptions.Contains(name))
            {
                if (equals > 0)
                {
                    Add(name, arg[(equals + 1)..]);
                }
                else if (i + 1 < args.Length)
                {
                    Add(name, args[++i]);
                }
                else
                {
                    throw new UsageException($"{name} needs a value");
                }
            }
            else
            {
                var nearest = Help.Nearest(name, valueOptions.Concat(flagOptions));
                throw new UsageException(nearest is null ? $"unknown option '{name}'" : $"unknown option '{name}' (did you mean {nearest}?)");
            }
        }
    }

    public IReadOnlyList<string> Positionals => _positionals;

    public bool Has(string name) => _values.ContainsKey(name);

    public string? Get(string name) => _values.TryGetValue(name, out var values) ? values[^1] : null;

    public IReadOnlyList<string> GetAll(string name) => _values.TryGetValue(name, out var values) ? [.. values.OfType<string>()] : [];

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

    private void Add(string name, string? value)
    {
        if (!_values.TryGetValue(name, out var values))
        {
            _values[name] = values = [];
        }

        values.Add(value);
    }
}
