using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Orchestrator.Hosting;

namespace Orchestrator.Tests.Support;

/// <summary>One request a <see cref="WebhookReceiver"/> got: its headers and exact body bytes, and what it answered.</summary>
public sealed record ReceivedWebhook(IReadOnlyDictionary<string, string> Headers, byte[] Body, int Answered)
{
    public string Header(string name) => Headers.TryGetValue(name, out var value) ? value : throw new Xunit.Sdk.XunitException($"No {name} header; got {string.Join(", ", Headers.Keys)}");
}

/// <summary>
/// A webhook receiver on 127.0.0.1 (an <see cref="HttpListener"/>): answers each request with the next status of its
/// script (the last one repeats), and hands every request to the test as it arrives.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<int> _script;
    private readonly Channel<ReceivedWebhook> _received = Channel.CreateUnbounded<ReceivedWebhook>();
    private readonly Task _serving;
    private int _last;

    public WebhookReceiver(int port, params int[] answers)
    {
        Port = port;
        _script = new ConcurrentQueue<int>(answers.Length == 0 ? [200] : answers);
        _last = _script.Last();
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _serving = ServeAsync();
    }

    /// <param name="answers">The status codes to answer, in order; the last one repeats (default 200).</param>
    public static WebhookReceiver Start(params int[] answers) => new(OrchestratorSiloHost.FreePort(), answers);

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/hooks/task";

    /// <summary>Every request so far, in order of arrival.</summary>
    public List<ReceivedWebhook> All { get; } = [];

    /// <summary>From now on answers <paramref name="status"/>.</summary>
    public void AnswerFromNowOn(int status)
    {
        _script.Clear();
        _last = status;
    }

    /// <summary>The next request, bounded so that a webhook that never comes fails the test.</summary>
    public async Task<ReceivedWebhook> NextAsync(int seconds = 30)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            return await _received.Reader.ReadAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"No webhook arrived at {Url} within {seconds} s (got {All.Count} before).");
        }
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var status = _script.TryDequeue(out var next) ? next : _last;
            var headers = context.Request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
            context.Response.StatusCode = status;
            context.Response.Close();
            var received = new ReceivedWebhook(headers, body.ToArray(), status);
            lock (All)
            {
                All.Add(received);
            }

            await _received.Writer.WriteAsync(received);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _serving;
    }
}
