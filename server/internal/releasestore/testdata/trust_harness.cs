// Test harness for the C# block of installer/install.ps1 (WirefleetTrust),
// compiled with Mono by installps1_test.go. One command per run; prints
// the result or "error: …".
using System;
using System.IO;
using System.Net;
using System.Security.Cryptography.X509Certificates;

public static class Harness
{
    static byte[] Hex(string s)
    {
        byte[] b = new byte[s.Length / 2];
        for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(s.Substring(2 * i, 2), 16);
        return b;
    }

    public static int Main(string[] a)
    {
        try
        {
            switch (a[0])
            {
                case "ed": // PUBHEX MSGHEX SIGHEX
                    Console.WriteLine(WirefleetTrust.Ed25519Verify(Hex(a[1]), Hex(a[2]), Hex(a[3])) ? "valid" : "invalid");
                    break;
                case "pin": // CERT.der
                    Console.WriteLine(WirefleetTrust.PinOf(File.ReadAllBytes(a[1])));
                    break;
                case "get": // URL PIN OUT: download through the pinning callback, TLS 1.2+
                    ServicePointManager.SecurityProtocol = SecurityProtocolType.Tls12;
                    WirefleetTrust.Pin = a[2];
                    ServicePointManager.ServerCertificateValidationCallback = WirefleetTrust.Callback;
                    new WebClient().DownloadFile(a[1], a[3]);
                    Console.WriteLine("ok " + new FileInfo(a[3]).Length);
                    break;
                case "script": // URL: what the one-liner does - fetch without certificate checks, hash the string's UTF-8 bytes
                    ServicePointManager.SecurityProtocol = SecurityProtocolType.Tls12;
                    ServicePointManager.ServerCertificateValidationCallback = delegate { return true; };
                    string text = new WebClient().DownloadString(a[1]);
                    byte[] sum = System.Security.Cryptography.SHA256.Create().ComputeHash(System.Text.Encoding.UTF8.GetBytes(text));
                    Console.WriteLine(BitConverter.ToString(sum).Replace("-", "").ToLowerInvariant());
                    break;
                case "release": // ROOT KEYS KEYSIG MANIFEST MANIFESTSIG CHANNEL VERSION OS ARCH NOW
                    string[] r = WirefleetTrust.VerifyRelease(File.ReadAllText(a[1]), File.ReadAllBytes(a[2]), File.ReadAllText(a[3]),
                        File.ReadAllBytes(a[4]), File.ReadAllText(a[5]), a[6], a[7], a[8], a[9],
                        DateTime.Parse(a[10], null, System.Globalization.DateTimeStyles.AdjustToUniversal));
                    Console.WriteLine(string.Join(" ", r));
                    break;
                default:
                    Console.WriteLine("error: unknown command " + a[0]);
                    return 2;
            }
        }
        catch (Exception e)
        {
            while (e.InnerException != null) e = e.InnerException;
            Console.WriteLine("error: " + e.Message);
            return 1;
        }
        return 0;
    }
}
