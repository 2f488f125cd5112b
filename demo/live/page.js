/* global document, fetch, EventSource, Chart */
// The live page: counters and a chart of hits per minute, redrawn from each
// Server-Sent Event of /events (one whole snapshot of the live statistics),
// and the top URLs panel from each `top` event (a live query on the server).
'use strict';

const $ = (id) => document.getElementById(id);
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
const STATES = {
  idle: 'Nothing imported yet: press Start.',
  running: 'Importing…',
  done: 'Imported.',
  skipped: 'Skipped:',
  failed: 'Failed:',
};

/** Shows a count; the raw number is in data-value for scripts. */
function count(id, n) {
  const el = $(id);
  el.textContent = n.toLocaleString('en');
  el.dataset.value = String(n);
}

const chart = new Chart($('hits'), {
  type: 'line',
  data: { labels: [], datasets: [{ label: 'hits per minute', data: [], borderColor: '#2563eb', borderWidth: 1.5 }] },
  options: {
    animation: false,
    maintainAspectRatio: false,
    elements: { point: { radius: 0 } },
    interaction: { mode: 'index', intersect: false },
    scales: {
      x: { ticks: { maxTicksLimit: 12, maxRotation: 0 } },
      y: { beginAtZero: true, title: { display: true, text: 'hits' } },
    },
    plugins: { legend: { display: false }, title: { display: true, text: 'Hits per minute of log time (UTC)' } },
  },
});

/** Every minute from the first to the last, those without hits as 0. */
function series(minutes) {
  const labels = [];
  const data = [];
  if (minutes.length === 0) return { labels, data };
  const hits = new Map(minutes);
  const last = Date.parse(`${minutes[minutes.length - 1][0]}Z`);
  for (let t = Date.parse(`${minutes[0][0]}Z`); t <= last; t += 60_000) {
    const minute = new Date(t).toISOString().slice(0, 16);
    labels.push(minute.slice(5).replace('T', ' '));
    data.push(hits.get(minute) ?? 0);
  }
  return { labels, data };
}

function render(ev) {
  count('lines', ev.lines);
  count('bad', ev.bad);
  for (const c of CLASSES) count(`status-${c}`, ev.status[c]);
  $('total').textContent = ev.total > 0 ? `of ${ev.total.toLocaleString('en')}` : '';
  $('state').textContent = STATES[ev.state] ?? ev.state;
  $('state').dataset.value = ev.state;
  $('file').textContent = ev.file;
  $('message').textContent = ev.message;
  const progress = $('progress');
  progress.max = ev.size || 1;
  progress.value = ev.state === 'done' || ev.state === 'skipped' ? progress.max : ev.bytes;
  $('start').disabled = ev.state === 'running';
  const { labels, data } = series(ev.minutes);
  chart.data.labels = labels;
  chart.data.datasets[0].data = data;
  chart.update('none');
}

$('start').addEventListener('click', async () => {
  $('start').disabled = true;
  const res = await fetch('/import', { method: 'POST' }).catch(() => undefined);
  if (!res) $('message').textContent = 'the server is not answering';
  else if (res.status === 409) $('message').textContent = 'an import is running already';
});

/** The top URLs panel: one item per URL, its hits in data-hits; the list's data-total is their sum. */
function renderTop(rows) {
  const list = $('top-urls');
  list.replaceChildren(
    ...rows.map((row) => {
      const item = document.createElement('li');
      item.dataset.url = row.url;
      item.dataset.hits = String(row.hits);
      const url = document.createElement('span');
      url.className = 'url';
      url.textContent = row.url;
      url.title = row.url;
      const hits = document.createElement('output');
      hits.textContent = Number(row.hits).toLocaleString('en');
      item.append(url, hits);
      return item;
    }),
  );
  list.dataset.total = String(rows.reduce((sum, row) => sum + Number(row.hits), 0));
}

const events = new EventSource('/events');
events.onmessage = (message) => render(JSON.parse(message.data));
events.addEventListener('top', (message) => renderTop(JSON.parse(message.data)));
events.onerror = () => {
  $('state').textContent = 'disconnected: reconnecting…';
  $('start').disabled = true;
};
