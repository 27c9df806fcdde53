/* acpi.c - finds and checks the VMM's ACPI tables (RSDP -> XSDT -> FADT, MADT,
 * DSDT) and uses the hardware-reduced FADT's sleep and reset registers.
 * All tables must lie below 4 GiB (the identity-mapped range). */
#include "guest.h"

u64 acpi_rsdp_paddr;                    /* hvm_start_info.rsdp_paddr, set by kmain */

#define FADT_FLAGS        112
#define FADT_RESET_REG    116           /* generic address structure, 12 bytes */
#define FADT_RESET_VALUE  128
#define FADT_X_DSDT       140
#define FADT_SLEEP_CTRL   244
#define FADT_SLEEP_STATUS 256
#define FADT_FLAG_RESET_REG_SUP  (1u << 10)
#define FADT_FLAG_HW_REDUCED     (1u << 20)
#define SLP_EN            0x20          /* sleep control: SLP_TYP in bits 4:2 */

/* Generic address structure: space id (0 memory, 1 I/O), bit width, bit
 * offset, access size, 64-bit address. */
struct gas {
    u8 space, width, offset, access;
    u64 addr;
};

static const u8 *fadt, *madt, *dsdt;

static u64 le(const u8 *p, u32 n)      /* little-endian, any alignment */
{
    u64 v = 0;
    while (n--)
        v = v << 8 | p[n];
    return v;
}

static int sig_is(const u8 *p, const char *s)
{
    for (; *s; s++, p++)
        if (*p != (u8)*s)
            return 0;
    return 1;
}

static u8 sum(const u8 *p, u64 n)
{
    u8 s = 0;
    while (n--)
        s += *p++;
    return s;
}

/* Checks one table's header (4-byte signature, length, checksum); fails the scenario otherwise. */
static const u8 *table(u64 addr, int verbose)
{
    const u8 *t = (const u8 *)addr;
    if (!addr || addr >= 0x100000000UL - 36)
        fail("table at 0x%x is outside the identity-mapped 4 GiB", addr);
    u64 len = le(t + 4, 4);
    char sig[5] = { (char)t[0], (char)t[1], (char)t[2], (char)t[3], 0 };
    if (len < 36 || len > 0x100000 || addr + len > 0x100000000UL)
        fail("table %s at 0x%x has bad length %u", sig, addr, len);
    if (sum(t, len))
        fail("table %s at 0x%x length %u: bad checksum", sig, addr, len);
    if (verbose)
        out("%s: table %s at 0x%x length %u\n", scenario, sig, addr, len);
    return t;
}

static struct gas gas_at(const u8 *p)
{
    struct gas g = { p[0], p[1], p[2], p[3], le(p + 4, 8) };
    return g;
}

static const char *space_name(u8 space)
{
    return space == 1 ? "io" : space == 0 ? "mem" : "other";
}

/* RSDP (start info, else a scan of 0xe0000-0xfffff) -> XSDT (RSDT if revision 0)
 * -> every table checked; sets fadt/madt/dsdt. */
static void acpi_find(int verbose)
{
    const u8 *r = (const u8 *)acpi_rsdp_paddr;
    const char *how = "hvm_start_info";
    if (!r) {
        out("%s: hvm_start_info rsdp_paddr is 0, scanning 0xe0000-0xfffff\n", scenario);
        for (u64 a = 0xe0000; a < 0x100000 && !r; a += 16)
            if (sig_is((const u8 *)a, "RSD PTR ") && !sum((const u8 *)a, 20))
                r = (const u8 *)a;
        if (!r)
            fail("hvm_start_info rsdp_paddr is 0 and no RSDP in 0xe0000-0xfffff");
        how = "scan";
    }
    if ((u64)r >= 0x100000000UL || !sig_is(r, "RSD PTR "))
        fail("no \"RSD PTR \" signature at 0x%x", (u64)r);
    if (sum(r, 20))
        fail("RSDP checksum (first 20 bytes) is wrong");
    u8 rev = r[15];
    if (rev >= 2 && (le(r + 20, 4) < 36 || sum(r, le(r + 20, 4))))
        fail("RSDP extended checksum (length %u) is wrong", le(r + 20, 4));
    if (verbose)
        out("%s: rsdp at 0x%x (from %s) revision %u\n", scenario, (u64)r, how, (u64)rev);

    u32 esize = rev >= 2 ? 8 : 4;
    const u8 *x = table(rev >= 2 ? le(r + 24, 8) : le(r + 16, 4), verbose);
    if (!sig_is(x, esize == 8 ? "XSDT" : "RSDT"))
        fail("RSDP points at a %c%c%c%c table, not %s", x[0], x[1], x[2], x[3], esize == 8 ? "XSDT" : "RSDT");
    u64 n = (le(x + 4, 4) - 36) / esize;
    for (u64 i = 0; i < n; i++) {
        const u8 *t = table(le(x + 36 + i * esize, esize), verbose);
        if (sig_is(t, "FACP") && !fadt)
            fadt = t;
        else if (sig_is(t, "APIC") && !madt)
            madt = t;
    }
    if (!fadt)
        fail("no FACP (FADT) in the %s", esize == 8 ? "XSDT" : "RSDT");
    u64 flen = le(fadt + 4, 4);
    if (flen < FADT_SLEEP_STATUS + 12)
        fail("FADT length %u is too short for the sleep registers (needs 268)", flen);
    u64 d = le(fadt + FADT_X_DSDT, 8);
    dsdt = table(d ? d : le(fadt + 40, 4), verbose);
    if (!sig_is(dsdt, "DSDT"))
        fail("FADT X_DSDT points at a %c%c%c%c table", dsdt[0], dsdt[1], dsdt[2], dsdt[3]);
}

/* SLP_TYP for S5 from the DSDT's `Name (\_S5, Package () { a, b, ... })`
 * (first element), or -1 if there is none or it is not a plain integer. */
static int s5_slp_typ(void)
{
    u64 len = le(dsdt + 4, 4);
    for (u64 i = 36; i + 8 < len; i++) {
        const u8 *p = dsdt + i;
        if (!sig_is(p, "_S5_") || p[4] != 0x12)       /* PackageOp */
            continue;
        p += 5 + 1 + (p[5] >> 6) + 1;                 /* PkgLength, NumElements */
        if (p >= dsdt + len)
            return -1;
        if (*p == 0x0a || *p == 0x0b || *p == 0x0c)   /* Byte/Word/DWordPrefix */
            return p[1];
        return *p <= 1 ? *p : -1;                     /* ZeroOp, OneOp */
    }
    return -1;
}

const char *run_acpi(void)
{
    u64 want = 0;
    int check = arg_u64("cpus", &want);
    acpi_find(1);

    u64 flags = le(fadt + FADT_FLAGS, 4);
    struct gas rr = gas_at(fadt + FADT_RESET_REG);
    struct gas sc = gas_at(fadt + FADT_SLEEP_CTRL), ss = gas_at(fadt + FADT_SLEEP_STATUS);
    out("%s: fadt revision %u.%u flags 0x%x\n", scenario, (u64)fadt[8], (u64)fadt[131], flags);
    out("%s: fadt reset %s 0x%x value 0x%x, sleep control %s 0x%x, sleep status %s 0x%x\n", scenario,
        space_name(rr.space), rr.addr, (u64)fadt[FADT_RESET_VALUE], space_name(sc.space), sc.addr,
        space_name(ss.space), ss.addr);
    if (!(flags & FADT_FLAG_HW_REDUCED))
        return "FADT flags lack HW_REDUCED_ACPI (bit 20)";
    if (!(flags & FADT_FLAG_RESET_REG_SUP))
        return "FADT flags lack RESET_REG_SUP (bit 10)";
    if (!sc.addr || !ss.addr || !rr.addr)
        return "FADT sleep control, sleep status or reset register address is 0";
    int s5 = s5_slp_typ();
    if (s5 < 0)
        return "no \\_S5 package with an integer SLP_TYP in the DSDT";
    out("%s: dsdt \\_S5 SLP_TYP %u\n", scenario, (u64)s5);

    if (!madt)
        return "no APIC (MADT) table in the XSDT";
    u64 cpus = 0, ioapic = 0, len = le(madt + 4, 4);
    int have_ioapic = 0;
    for (u64 i = 44; i + 2 <= len; i += madt[i + 1]) {
        const u8 *e = madt + i;
        if (e[1] < 2 || i + e[1] > len)
            fail("bad MADT entry (type %u length %u) at offset %u", (u64)e[0], (u64)e[1], i);
        if (e[0] == 0 && e[1] >= 8)
            cpus += le(e + 4, 4) & 1;
        else if (e[0] == 9 && e[1] >= 16)
            cpus += le(e + 8, 4) & 1;
        else if (e[0] == 1 && e[1] >= 12 && !have_ioapic)
            ioapic = le(e + 4, 4), have_ioapic = 1;
        else if (e[0] == 2 && e[1] >= 10)
            out("%s: madt irq %u -> gsi %u flags 0x%x\n", scenario, (u64)e[3], le(e + 4, 4), le(e + 8, 2));
    }
    if (!have_ioapic)
        return "no I/O APIC entry in the MADT";
    out("%s: madt %u cpus, ioapic at 0x%x\n", scenario, cpus, ioapic);
    if (check && cpus != want)
        fail("expected %u cpus, MADT has %u", want, cpus);
    return 0;
}

/* One byte to a register given by a generic address structure. */
static void gas_write(const char *what, struct gas g, u8 v)
{
    if (!g.addr)
        fail("FADT has no %s register", what);
    if (g.space == 1)
        outb((u16)g.addr, v);
    else if (g.space == 0)
        *(volatile u8 *)g.addr = v;
    else
        fail("%s register in unsupported address space %u", what, (u64)g.space);
}

const char *run_acpi_poweroff(void)
{
    acpi_find(0);
    int s5 = s5_slp_typ();
    u8 typ = s5 < 0 ? 5 : (u8)(s5 & 7);              /* 5 is this VMM's value */
    struct gas sc = gas_at(fadt + FADT_SLEEP_CTRL);
    out("%s: writing SLP_TYP %u to sleep control 0x%x\n", scenario, (u64)typ, sc.addr);
    gas_write("sleep control", sc, (u8)(typ << 2 | SLP_EN));
    return "power-off request was ignored";
}

const char *run_acpi_reset(void)
{
    acpi_find(0);
    if (!(le(fadt + FADT_FLAGS, 4) & FADT_FLAG_RESET_REG_SUP))
        return "FADT flags lack RESET_REG_SUP (bit 10)";
    struct gas rr = gas_at(fadt + FADT_RESET_REG);
    u8 v = fadt[FADT_RESET_VALUE];
    out("%s: writing 0x%x to reset register 0x%x\n", scenario, (u64)v, rr.addr);
    gas_write("reset", rr, v);
    return "reset request was ignored";
}

/* Enabled CPUs in the MADT (local APIC and x2APIC entries); 0 without one. */
u64 acpi_cpu_count(void)
{
    acpi_find(0);
    if (!madt)
        return 0;
    u64 cpus = 0, len = le(madt + 4, 4);
    for (u64 i = 44; i + 2 <= len && madt[i + 1] >= 2; i += madt[i + 1]) {
        const u8 *e = madt + i;
        if (e[0] == 0 && e[1] >= 8)
            cpus += le(e + 4, 4) & 1;
        else if (e[0] == 9 && e[1] >= 16)
            cpus += le(e + 8, 4) & 1;
    }
    return cpus;
}

/* ACPI S5 through the FADT's sleep control register; returns only if the VMM ignored it. */
void acpi_poweroff(void)
{
    acpi_find(0);
    int s5 = s5_slp_typ();
    u8 typ = s5 < 0 ? 5 : (u8)(s5 & 7);
    gas_write("sleep control", gas_at(fadt + FADT_SLEEP_CTRL), (u8)(typ << 2 | SLP_EN));
}
