# Wirefleet agent installer for Windows. Run in PowerShell as Administrator;
# the server's one-liner (web page, `wirefleet-server tokens create`) runs it:
#
#   & ([scriptblock]::Create((irm https://SERVER/install.ps1))) -Server https://SERVER -Token wfe_... [-Pin sha256/...] [-ReleaseKey RW...]
#
# (for a self-signed server the one-liner fetches this script without
# certificate validation and checks its SHA-256 before running it).
#
# What it does:
#  - talks to the server over TLS 1.2 or newer only, and with -Pin accepts
#    only a certificate whose public key (SPKI) has that SHA-256 - for every
#    request, not just the first;
#  - verifies the release chain the agents verify: keys.json signed by the
#    release root key (-ReleaseKey from the one-liner, else the server's
#    root.pub, with a warning), the channel's manifest signed by a current
#    signing key, and the MSI's size and SHA-256 from that signed manifest;
#  - installs the MSI silently (SERVER, TOKEN, PIN): re-running it on an
#    enrolled machine keeps the enrollment; 3010 means "done, reboot later";
#    on failure the msiexec log path is printed;
#  - checks that the wirefleet-agent service runs.
param(
    [Parameter(Mandatory = $true)][string]$Server,
    [string]$Token = "",
    [string]$Pin = "",
    [string]$ReleaseKey = "",
    [string]$Channel = "stable",
    [switch]$Force,
    [switch]$NoStart
)
$ErrorActionPreference = "Stop"
$ProgressPreference = "SilentlyContinue" # Invoke-WebRequest's progress bar slows downloads tenfold

function Fail([string]$msg) { throw "wirefleet install: $msg" }

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    Fail "run PowerShell as Administrator"
}
if ($Server -notmatch '^https://[^/\s]+$' -and $Server -notmatch '^https://[^/\s]+/$') {
    Fail "-Server must be the server's https:// URL, such as https://wirefleet.example.com:8443"
}
$Server = $Server.TrimEnd("/")
if ($Pin -and $Pin -notmatch '^sha256/[A-Za-z0-9+/]{43}=$') { Fail "-Pin must look like sha256/<44 base64 characters>" }
if ($Channel -notmatch '^[a-z0-9][a-z0-9._-]{0,31}$') { Fail "-Channel must be a channel name such as stable" }

# The checks that must not depend on PowerShell's quirks are C#: pinning
# runs in .NET's TLS callback (no runspace there), and signature checks
# need Ed25519, which .NET Framework lacks. CI compiles this block with
# Mono and runs it against signatures made by the server's own code.
# --- BEGIN WirefleetTrust (C# 5) ---
$trust = @'
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;

public static class WirefleetTrust
{
    // ---- TLS: SPKI pinning ----

    public static string Pin = "";
    public static readonly RemoteCertificateValidationCallback Callback = new RemoteCertificateValidationCallback(Validate);

    public static bool Validate(object sender, X509Certificate cert, X509Chain chain, SslPolicyErrors errors)
    {
        if (cert == null) return false;
        if (Pin.Length == 0) return errors == SslPolicyErrors.None;
        return PinOf(cert.GetRawCertData()) == Pin; // the pin replaces the CA check (self-signed servers)
    }

    // PinOf returns "sha256/" + base64(SHA-256(SubjectPublicKeyInfo)) of a
    // DER certificate, the form curl --pinnedpubkey and the agent use.
    public static string PinOf(byte[] der)
    {
        int pos = 0;
        int end;
        Enter(der, ref pos, 0x30, out end);            // Certificate
        Enter(der, ref pos, 0x30, out end);            // TBSCertificate
        if (der[pos] == 0xA0) Skip(der, ref pos);      // [0] version
        for (int i = 0; i < 5; i++) Skip(der, ref pos); // serial, signature, issuer, validity, subject
        int start = pos;
        Skip(der, ref pos);                             // subjectPublicKeyInfo
        byte[] spki = new byte[pos - start];
        Array.Copy(der, start, spki, 0, spki.Length);
        using (SHA256 h = SHA256.Create()) return "sha256/" + Convert.ToBase64String(h.ComputeHash(spki));
    }

    static int Length(byte[] d, ref int pos)
    {
        int b = d[pos++];
        if (b < 0x80) return b;
        int n = b & 0x7f, len = 0;
        if (n == 0 || n > 3) throw new FormatException("certificate: bad DER length");
        for (int i = 0; i < n; i++) len = (len << 8) | d[pos++];
        return len;
    }

    static void Enter(byte[] d, ref int pos, byte tag, out int end)
    {
        if (d[pos] != tag) throw new FormatException("certificate: unexpected DER tag");
        pos++;
        int len = Length(d, ref pos);
        end = pos + len;
        if (end > d.Length) throw new FormatException("certificate: truncated");
    }

    static void Skip(byte[] d, ref int pos)
    {
        pos++;
        int len = Length(d, ref pos);
        pos += len;
        if (pos > d.Length) throw new FormatException("certificate: truncated");
    }

    // ---- Ed25519 verification (RFC 8032, section 5.1.7) ----

    static readonly BigInteger P = BigInteger.Pow(2, 255) - 19;
    static readonly BigInteger L = BigInteger.Pow(2, 252) + BigInteger.Parse("27742317777372353535851937790883648493");
    static readonly BigInteger D = Mod(-121665 * Inv(121666));
    static readonly BigInteger SqrtM1 = BigInteger.ModPow(2, (P - 1) / 4, P);
    static readonly BigInteger[] B = BasePoint();

    static BigInteger Mod(BigInteger a) { BigInteger r = a % P; return r.Sign < 0 ? r + P : r; }
    static BigInteger Inv(BigInteger a) { return BigInteger.ModPow(Mod(a), P - 2, P); }

    static BigInteger FromLE(byte[] b, int off, int len)
    {
        byte[] t = new byte[len + 1]; // trailing zero: non-negative
        Array.Copy(b, off, t, 0, len);
        return new BigInteger(t);
    }

    static BigInteger[] BasePoint()
    {
        BigInteger y = Mod(4 * Inv(5));
        return new BigInteger[] { RecoverX(y, 0), y, 1, Mod(RecoverX(y, 0) * y) };
    }

    static BigInteger RecoverX(BigInteger y, int sign)
    {
        BigInteger x2 = Mod((y * y - 1) * Inv(D * y * y + 1));
        if (x2.IsZero)
        {
            if (sign == 1) throw new FormatException("ed25519: bad point");
            return 0;
        }
        BigInteger x = BigInteger.ModPow(x2, (P + 3) / 8, P);
        if (!Mod(x * x - x2).IsZero) x = Mod(x * SqrtM1);
        if (!Mod(x * x - x2).IsZero) throw new FormatException("ed25519: bad point");
        if ((int)(x % 2) != sign) x = P - x;
        return x;
    }

    static BigInteger[] Decode(byte[] b, int off)
    {
        byte[] t = new byte[32];
        Array.Copy(b, off, t, 0, 32);
        int sign = t[31] >> 7;
        t[31] &= 0x7f;
        BigInteger y = FromLE(t, 0, 32);
        if (y >= P) throw new FormatException("ed25519: bad point");
        BigInteger x = RecoverX(y, sign);
        return new BigInteger[] { x, y, 1, Mod(x * y) };
    }

    static BigInteger[] Add(BigInteger[] p, BigInteger[] q)
    {
        BigInteger a = Mod((p[1] - p[0]) * (q[1] - q[0]));
        BigInteger b = Mod((p[1] + p[0]) * (q[1] + q[0]));
        BigInteger c = Mod(p[3] * 2 * D * q[3]);
        BigInteger d = Mod(p[2] * 2 * q[2]);
        BigInteger e = b - a, f = d - c, g = d + c, h = b + a;
        return new BigInteger[] { Mod(e * f), Mod(g * h), Mod(f * g), Mod(e * h) };
    }

    static BigInteger[] Mul(BigInteger s, BigInteger[] p)
    {
        BigInteger[] q = new BigInteger[] { 0, 1, 1, 0 };
        while (s.Sign > 0)
        {
            if (!s.IsEven) q = Add(q, p);
            p = Add(p, p);
            s >>= 1;
        }
        return q;
    }

    static bool Equal(BigInteger[] p, BigInteger[] q)
    {
        return Mod(p[0] * q[2] - q[0] * p[2]).IsZero && Mod(p[1] * q[2] - q[1] * p[2]).IsZero;
    }

    public static bool Ed25519Verify(byte[] pub, byte[] msg, byte[] sig)
    {
        if (pub.Length != 32 || sig.Length != 64) return false;
        try
        {
            BigInteger[] a = Decode(pub, 0);
            BigInteger[] r = Decode(sig, 0);
            BigInteger s = FromLE(sig, 32, 32);
            if (s >= L) return false;
            byte[] buf = new byte[64 + msg.Length];
            Array.Copy(sig, 0, buf, 0, 32);
            Array.Copy(pub, 0, buf, 32, 32);
            Array.Copy(msg, 0, buf, 64, msg.Length);
            BigInteger k;
            using (SHA512 h = SHA512.Create()) k = FromLE(h.ComputeHash(buf), 0, 64) % L;
            return Equal(Mul(s, B), Add(r, Mul(k, a)));
        }
        catch (FormatException) { return false; }
    }

    // ---- minisign ----

    // PublicKey parses a minisign public key (the base64 line, or a whole
    // .pub file): "Ed", 8-byte key ID, 32-byte Ed25519 key.
    static byte[] PublicKey(string text)
    {
        string line = LastLine(text);
        byte[] k = Convert.FromBase64String(line);
        if (k.Length != 42 || k[0] != (byte)'E' || k[1] != (byte)'d') throw new FormatException("release key: not a minisign Ed25519 public key");
        return k;
    }

    static string LastLine(string text)
    {
        string[] lines = text.Replace("\r", "").Trim().Split('\n');
        return lines[lines.Length - 1].Trim();
    }

    // MinisignVerify checks a minisign signature file over msg with a
    // public key: the key ID, the signature over the message (legacy "Ed"
    // form; the server signs manifests that way) and the global signature
    // over the signature and its trusted comment.
    public static bool MinisignVerify(string pubText, byte[] msg, string sigText)
    {
        byte[] pk;
        try { pk = PublicKey(pubText); } catch (FormatException) { return false; }
        string[] lines = sigText.Replace("\r", "").Split('\n');
        if (lines.Length < 4 || !lines[2].StartsWith("trusted comment: ")) return false;
        byte[] sig, global;
        try
        {
            sig = Convert.FromBase64String(lines[1].Trim());
            global = Convert.FromBase64String(lines[3].Trim());
        }
        catch (FormatException) { return false; }
        if (sig.Length != 74 || global.Length != 64 || sig[0] != (byte)'E' || sig[1] != (byte)'d') return false;
        for (int i = 2; i < 10; i++) if (sig[i] != pk[i]) return false;
        byte[] key = new byte[32];
        Array.Copy(pk, 10, key, 0, 32);
        byte[] s = new byte[64];
        Array.Copy(sig, 10, s, 0, 64);
        if (!Ed25519Verify(key, msg, s)) return false;
        byte[] comment = Encoding.UTF8.GetBytes(lines[2].Substring("trusted comment: ".Length));
        byte[] both = new byte[64 + comment.Length];
        Array.Copy(s, 0, both, 0, 64);
        Array.Copy(comment, 0, both, 64, comment.Length);
        return Ed25519Verify(key, both, global);
    }

    // ---- the release chain ----

    static readonly Regex Rfc3339 = new Regex(@"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$");

    // Time reads an RFC 3339 time as Go writes it (up to nanoseconds).
    static DateTime Time(object v, string what)
    {
        Match m = v is string ? Rfc3339.Match((string)v) : Match.Empty;
        if (!m.Success) throw new InvalidOperationException(what + ": not a time");
        DateTime t = DateTime.ParseExact(m.Groups[1].Value, "yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        if (m.Groups[2].Success)
            t = t.AddTicks(long.Parse((m.Groups[2].Value.Substring(1) + "0000000").Substring(0, 7), CultureInfo.InvariantCulture));
        string z = m.Groups[3].Value;
        if (z != "Z")
        {
            TimeSpan off = new TimeSpan(int.Parse(z.Substring(1, 2), CultureInfo.InvariantCulture), int.Parse(z.Substring(4, 2), CultureInfo.InvariantCulture), 0);
            t = z[0] == '+' ? t - off : t + off;
        }
        return t;
    }

    static Dictionary<string, object> Json(byte[] body, string what)
    {
        int pos = 0;
        string text = Encoding.UTF8.GetString(body);
        object v;
        try
        {
            v = Value(text, ref pos);
            Space(text, ref pos);
            if (pos != text.Length) throw new FormatException("trailing data");
        }
        catch (Exception e)
        {
            if (e is FormatException || e is IndexOutOfRangeException || e is ArgumentOutOfRangeException || e is OverflowException)
                throw new InvalidOperationException(what + ": bad JSON at byte " + pos);
            throw;
        }
        Dictionary<string, object> d = v as Dictionary<string, object>;
        if (d == null) throw new InvalidOperationException(what + ": not a JSON object");
        return d;
    }

    // A small JSON reader (RFC 8259): objects, arrays, strings, numbers
    // (long or double), true, false, null. .NET Framework has no JSON
    // reader that PowerShell 7 also has.
    static void Space(string s, ref int pos)
    {
        while (pos < s.Length && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r')) pos++;
    }

    static object Value(string s, ref int pos)
    {
        Space(s, ref pos);
        char c = s[pos];
        if (c == '{')
        {
            Dictionary<string, object> d = new Dictionary<string, object>();
            pos++;
            Space(s, ref pos);
            if (s[pos] == '}') { pos++; return d; }
            while (true)
            {
                Space(s, ref pos);
                if (s[pos] != '"') throw new FormatException("key");
                string k = String(s, ref pos);
                Space(s, ref pos);
                if (s[pos++] != ':') throw new FormatException("colon");
                d[k] = Value(s, ref pos);
                Space(s, ref pos);
                if (s[pos] == ',') { pos++; continue; }
                if (s[pos++] == '}') return d;
                throw new FormatException("object");
            }
        }
        if (c == '[')
        {
            List<object> l = new List<object>();
            pos++;
            Space(s, ref pos);
            if (s[pos] == ']') { pos++; return l; }
            while (true)
            {
                l.Add(Value(s, ref pos));
                Space(s, ref pos);
                if (s[pos] == ',') { pos++; continue; }
                if (s[pos++] == ']') return l;
                throw new FormatException("array");
            }
        }
        if (c == '"') return String(s, ref pos);
        foreach (string word in new string[] { "true", "false", "null" })
        {
            if (string.CompareOrdinal(s, pos, word, 0, word.Length) == 0)
            {
                pos += word.Length;
                return word == "null" ? null : (object)(word == "true");
            }
        }
        int start = pos;
        while (pos < s.Length && "+-0123456789.eE".IndexOf(s[pos]) >= 0) pos++;
        string num = s.Substring(start, pos - start);
        long n;
        if (long.TryParse(num, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out n)) return n;
        return double.Parse(num, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    static string String(string s, ref int pos)
    {
        StringBuilder b = new StringBuilder();
        pos++; // opening quote
        while (true)
        {
            char c = s[pos++];
            if (c == '"') return b.ToString();
            if (c < 0x20) throw new FormatException("control character in string");
            if (c != '\\') { b.Append(c); continue; }
            char e = s[pos++];
            switch (e)
            {
                case '"': b.Append('"'); break;
                case '\\': b.Append('\\'); break;
                case '/': b.Append('/'); break;
                case 'b': b.Append('\b'); break;
                case 'f': b.Append('\f'); break;
                case 'n': b.Append('\n'); break;
                case 'r': b.Append('\r'); break;
                case 't': b.Append('\t'); break;
                case 'u': b.Append((char)int.Parse(s.Substring(pos, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)); pos += 4; break;
                default: throw new FormatException("escape");
            }
        }
    }

    static string Str(Dictionary<string, object> d, string key)
    {
        object v;
        return d.TryGetValue(key, out v) && v is string ? (string)v : "";
    }

    // VerifyRelease checks keys.json against the root key, the manifest
    // against a live signing key of keys.json, both expiries, the channel
    // and version, and returns the artifact for goos/arch as
    // { version, file, sha256, size }. Any failure throws with the reason.
    public static string[] VerifyRelease(string rootKey, byte[] keys, string keysSig, byte[] manifest, string manifestSig,
        string channel, string version, string goos, string arch, DateTime now)
    {
        if (!MinisignVerify(rootKey, keys, keysSig))
            throw new InvalidOperationException("keys.json is not signed by the release root key");
        Dictionary<string, object> ks = Json(keys, "keys.json");
        if (now >= Time(ks.ContainsKey("expires") ? ks["expires"] : null, "keys.json expires"))
            throw new InvalidOperationException("keys.json has expired");
        bool signed = false;
        object list;
        if (ks.TryGetValue("keys", out list) && list is List<object>)
        {
            foreach (object o in (List<object>)list)
            {
                Dictionary<string, object> k = o as Dictionary<string, object>;
                if (k == null || now >= Time(k.ContainsKey("not_after") ? k["not_after"] : null, "key not_after")) continue;
                if (MinisignVerify(Str(k, "public_key"), manifest, manifestSig)) { signed = true; break; }
            }
        }
        if (!signed) throw new InvalidOperationException("the manifest is not signed by a current release signing key");
        Dictionary<string, object> m = Json(manifest, "manifest");
        if (now >= Time(m.ContainsKey("expires") ? m["expires"] : null, "manifest expires"))
            throw new InvalidOperationException("the manifest has expired");
        if (Str(m, "channel") != channel || (version.Length > 0 && Str(m, "version") != version))
            throw new InvalidOperationException("the manifest is for " + Str(m, "channel") + " " + Str(m, "version") + ", not " + channel + " " + version);
        object arts;
        if (m.TryGetValue("artifacts", out arts) && arts is List<object>)
        {
            foreach (object o in (List<object>)arts)
            {
                Dictionary<string, object> a = o as Dictionary<string, object>;
                if (a == null || Str(a, "os") != goos || Str(a, "arch") != arch) continue;
                long size = a.ContainsKey("size") && a["size"] is long ? (long)a["size"] : 0;
                string file = Str(a, "file"), sum = Str(a, "sha256").ToLowerInvariant();
                if (file.Length == 0 || file.IndexOfAny(new char[] { '/', '\\' }) >= 0 || sum.Length != 64 || size <= 0)
                    throw new InvalidOperationException("the manifest's " + goos + "/" + arch + " entry is malformed");
                return new string[] { Str(m, "version"), file, sum, size.ToString(CultureInfo.InvariantCulture) };
            }
        }
        throw new InvalidOperationException("release " + Str(m, "version") + " has no " + goos + "/" + arch + " package");
    }
}
'@
# --- END WirefleetTrust ---
if ($PSVersionTable.PSEdition -eq "Core") { Add-Type -TypeDefinition $trust }
else { Add-Type -TypeDefinition $trust -ReferencedAssemblies System.Numerics }

# TLS 1.2 (and 1.3 where .NET knows it); never SSL 3 or TLS 1.0/1.1.
$proto = [Net.SecurityProtocolType]::Tls12
try { $proto = $proto -bor [Net.SecurityProtocolType]::Tls13 } catch {}
[Net.ServicePointManager]::SecurityProtocol = $proto
[WirefleetTrust]::Pin = $Pin
[Net.ServicePointManager]::ServerCertificateValidationCallback = [WirefleetTrust]::Callback

$web = New-Object Net.WebClient
function Get-Bytes([string]$path) {
    # The comma keeps the byte array whole: PowerShell would otherwise send
    # it down the pipeline one byte at a time.
    try { return , $web.DownloadData("$Server$path") }
    catch { Fail "GET $Server$path failed: $($_.Exception.InnerException.Message) $($_.Exception.Message)" }
}
function Get-Text([string]$path) { return [Text.Encoding]::UTF8.GetString((Get-Bytes $path)) }

$arch = if ($env:PROCESSOR_ARCHITECTURE -eq "ARM64" -or $env:PROCESSOR_ARCHITEW6432 -eq "ARM64") { "arm64" } else { "amd64" }
Write-Host "wirefleet: checking the signed $Channel release for windows/$arch"
if (-not $ReleaseKey) {
    Write-Warning "wirefleet: no -ReleaseKey given: trusting the release root key the server sends (pass the one-liner's -ReleaseKey to check it independently)"
    $ReleaseKey = Get-Text "/releases/root.pub"
}
$index = (Get-Text "/releases/channel/$Channel/windows/$arch-msi").Trim().Split(" ")
if ($index.Count -ne 4) { Fail "the server has no MSI in channel $Channel for windows/$arch" }
$version = $index[0]
if ($version -notmatch '^[0-9A-Za-z.+-]{1,64}$') { Fail "the server names a malformed version" }
try {
    $release = [WirefleetTrust]::VerifyRelease($ReleaseKey,
        (Get-Bytes "/releases/keys.json"), (Get-Text "/releases/keys.json.minisig"),
        (Get-Bytes "/releases/channel/$Channel/versions/$version/manifest.json"),
        (Get-Text "/releases/channel/$Channel/versions/$version/manifest.json.minisig"),
        $Channel, $version, "windows", "$arch-msi", [DateTime]::UtcNow)
} catch {
    Fail "the release does not verify, nothing was installed: $($_.Exception.InnerException.Message)"
}
$file, $sum, $size = $release[1], $release[2], [int64]$release[3]

$dir = Join-Path ([IO.Path]::GetTempPath()) ("wirefleet-" + [Guid]::NewGuid().ToString("N"))
New-Item -ItemType Directory -Path $dir | Out-Null
$msi = Join-Path $dir $file
Write-Host "wirefleet: downloading $file ($([math]::Round($size / 1MB, 1)) MB)"
try { $web.DownloadFile("$Server/releases/files/$file", $msi) }
catch { Fail "download of $file failed: $($_.Exception.InnerException.Message)" }
if ((Get-Item $msi).Length -ne $size -or (Get-FileHash -Algorithm SHA256 $msi).Hash.ToLower() -ne $sum) {
    Remove-Item -Recurse -Force $dir
    Fail "$file does not match the signed manifest (size or SHA-256); nothing was installed"
}

$log = Join-Path $env:WINDIR "Temp\wirefleet-install.log"
$msiArgs = @("/i", "`"$msi`"", "/qn", "/norestart", "/l*v", "`"$log`"", "SERVER=$Server")
if ($Token) { $msiArgs += "TOKEN=$Token" }
if ($Pin) { $msiArgs += "PIN=$Pin" }
if ($Force) { $msiArgs += "FORCE=1" }
if ($NoStart) { $msiArgs += "NOSTART=1" }
Write-Host "wirefleet: installing Wirefleet agent $version"
$p = Start-Process msiexec.exe -ArgumentList $msiArgs -Wait -PassThru
Remove-Item -Recurse -Force $dir -ErrorAction SilentlyContinue
switch ($p.ExitCode) {
    0 { }
    3010 { Write-Warning "wirefleet: installed; Windows asks for a restart to finish (the agent runs already)" }
    1641 { Write-Warning "wirefleet: installed; Windows is restarting to finish" ; return }
    1618 { Fail "another installation is in progress; wait for it and run this again" }
    default {
        $why = Select-String -Path $log -Pattern "wirefleet|Return value 3|error" -ErrorAction SilentlyContinue | Select-Object -Last 5 | ForEach-Object { "  " + $_.Line }
        Fail ("msiexec failed with exit code $($p.ExitCode); the log is $log`n" + ($why -join "`n"))
    }
}

if (-not $NoStart) {
    $svc = Get-Service wirefleet-agent -ErrorAction SilentlyContinue
    if (-not $svc) { Fail "the MSI installed but no wirefleet-agent service exists; see $log" }
    try { $svc.WaitForStatus("Running", [TimeSpan]::FromSeconds(30)) }
    catch { $svc.Refresh(); Fail "the wirefleet-agent service is $($svc.Status), not running after 30 s; see the Application event log (source wirefleet-agent)" }
    & (Join-Path $env:ProgramFiles "Wirefleet\wirefleet-agent.exe") status
}
Write-Host "wirefleet: done"
