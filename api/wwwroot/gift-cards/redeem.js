// The gift card redemption page (issue 15 §2). The QR code of a card opens
//   /gift-cards/redeem?org={organisation}&clinic={clinic}#code=GC-XXXX-XXXX-XXXX
// The code is in the fragment: browsers never send it to a server, so it reaches no request line and no access log.
// It is read here, taken out of the address bar (so it is not kept in history, bookmarks or a shared screenshot of
// the URL), and sent only in the body of the balance request, which goes through the gift card guessing limit.
(function () {
  'use strict';

  const query = new URLSearchParams(window.location.search);
  const org = query.get('org') || '';
  const clinic = query.get('clinic') || '';
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  const linked = fragment.get('code');
  if (window.location.hash) {
    history.replaceState(null, '', window.location.pathname + window.location.search);
  }

  const $ = (id) => document.getElementById(id);
  const form = $('lookup');
  const input = $('code');
  const button = form.querySelector('button');
  const guid = /^[0-9a-fA-F]{32}$|^[0-9a-fA-F-]{36}$/;
  const base = guid.test(org) && guid.test(clinic)
    ? '/api/gift-cards/redeem/' + encodeURIComponent(org) + '/' + encodeURIComponent(clinic)
    : null;
  const notFound = 'We could not find a gift card with that code. Check the code on your card and try again.';

  function money(m) {
    const digits = new Intl.NumberFormat('en-US', { style: 'currency', currency: m.currency }).resolvedOptions().maximumFractionDigits;
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: m.currency }).format(m.amount / Math.pow(10, digits));
  }

  function show(id, text) {
    const el = $(id);
    el.textContent = text;
    el.hidden = false;
  }

  function hide(id) { $(id).hidden = true; }

  async function loadClinic() {
    if (!base) { return; }
    try {
      const response = await fetch(base, { headers: { Accept: 'application/json' }, cache: 'no-store' });
      if (!response.ok) { return; }
      const c = await response.json();
      $('clinic-name').textContent = c.name;
      document.title = 'Gift card · ' + c.name;
      document.querySelectorAll('.clinic-ref').forEach((el) => { el.textContent = c.name; });
      const ways = [c.phone && ('call ' + c.phone), c.website && ('visit ' + c.website), c.email && ('write to ' + c.email)].filter(Boolean);
      if (ways.length) {
        $('book-ways').textContent = ' (' + ways.join(', ') + ')';
        show('clinic-contact', ways.join(' · '));
      }
    } catch (e) {
      // The clinic's name is a courtesy: the balance check still works without it.
    }
  }

  async function check(code) {
    hide('error');
    hide('result');
    if (!base) {
      show('error', 'This link is incomplete: open it again from your gift card.');
      return;
    }

    button.disabled = true;
    try {
      const response = await fetch(base + '/balance', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ code: code }),
        cache: 'no-store',
      });
      if (response.ok) {
        const card = await response.json();
        $('balance').textContent = money(card.balance);
        const status = card.status === 'active' || card.status === 'depleted' ? '' : ' · ' + card.status;
        const expiry = card.expiresAt ? ' · valid until ' + new Date(card.expiresAt).toLocaleDateString('en-US', { dateStyle: 'long' }) : '';
        $('card-line').textContent = 'Card ending ' + card.last4 + ' at ' + card.clinicName + status + expiry;
        $('result').hidden = false;
      } else if (response.status === 429) {
        const wait = Number(response.headers.get('Retry-After')) || 60;
        show('error', 'Too many attempts with wrong codes. Try again in ' + Math.ceil(wait / 60) + ' minute(s).');
      } else if (response.status === 404) {
        show('error', notFound);
      } else {
        show('error', 'The balance could not be checked right now. Please try again later.');
      }
    } catch (e) {
      show('error', 'The balance could not be checked right now. Please try again later.');
    } finally {
      button.disabled = false;
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const code = input.value.trim();
    if (code) { check(code); }
  });

  loadClinic();
  if (linked) {
    input.value = linked;
    check(linked);
  }
})();
