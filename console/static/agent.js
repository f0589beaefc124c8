import { api, el } from './app.js';
import { renderMarkdown } from './markdown.js';

const source = document.getElementById('description-source');
const target = document.getElementById('description');
if (source && target) renderMarkdown(source.textContent, target);

const hire = document.getElementById('hire');
const status = document.getElementById('hire-status');
hire?.addEventListener('click', async () => {
  hire.disabled = true;
  status.textContent = 'Hiring…';
  try {
    const instance = await api('/api/instances', { method: 'POST', body: { agent: hire.dataset.agent } });
    window.location.assign(`/console/instances/${instance.id}`);
  } catch (err) {
    status.textContent = `Could not hire: ${err.message}`;
    hire.disabled = false;
  }
});

// Write a review: POST the first time; a 409 means there is one already, so it is replaced (PUT …/mine).
const reviewForm = document.getElementById('review-form');
reviewForm?.addEventListener('submit', async (event) => {
  event.preventDefault();
  const out = document.getElementById('review-status');
  const slug = encodeURIComponent(reviewForm.dataset.agent);
  const body = {
    rating: Number(reviewForm.elements.rating.value),
    title: reviewForm.elements.title.value.trim(),
    body: reviewForm.elements.body.value.trim(),
  };
  out.textContent = 'Sending…';
  try {
    let review;
    try {
      review = await api(`/api/agents/${slug}/reviews`, { method: 'POST', body });
    } catch (err) {
      if (err.status !== 409) throw err;
      review = await api(`/api/agents/${slug}/reviews/mine`, { method: 'PUT', body });
    }
    const list = document.querySelector('ul.reviews');
    list.querySelector('.no-reviews')?.remove();
    list.querySelector('li[data-mine]')?.remove();
    list.prepend(el('li', { class: 'card', 'data-mine': 'true' },
      el('p', {}, `★ ${review.rating} · ${review.author_name || 'you'}`),
      ...(review.title ? [el('p', {}, el('strong', {}, review.title))] : []),
      ...(review.body ? [el('p', {}, review.body)] : [])));
    out.textContent = 'Thanks: your review is published.';
  } catch (err) {
    out.textContent = `Could not send the review: ${err.message}`;
  }
});
