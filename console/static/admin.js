// Approve or reject a version under review, from the queue.
import { api } from './app.js';

for (const form of document.querySelectorAll('form.decide')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const decision = event.submitter?.value || 'approve';
    const item = form.closest('[data-version]');
    const outcome = form.querySelector('.outcome');
    const field = form.querySelector('input[name="reason"]');
    const reason = field.value.trim();
    if (decision === 'reject' && !reason) {
      // The creator reads this reason next to their appeal form: a rejection without one is refused here.
      outcome.textContent = 'Give a reason to reject.';
      field.setAttribute('aria-invalid', 'true');
      field.focus();
      return;
    }
    field.removeAttribute('aria-invalid');
    try {
      const out = await api(`/api/admin/reviews/${item.dataset.version}`, {
        method: 'POST', body: { decision, ...(reason ? { reason } : {}) },
      });
      outcome.textContent = decision === 'approve' ? `Approved: ${out.status || 'published'}.` : 'Rejected.';
      item.dataset.decided = decision;
      for (const b of form.querySelectorAll('button')) b.disabled = true;
    } catch (err) {
      outcome.textContent = `Could not decide: ${err.message}`;
    }
  });
}
