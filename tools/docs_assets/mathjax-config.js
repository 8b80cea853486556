// MathJax 3 settings for the site: $...$ and $$...$$ as in the notebooks; fonts come from assets/mathjax/ (no CDN).
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']], processEscapes: true},
  options: {skipHtmlTags: ['script', 'noscript', 'style', 'textarea', 'pre', 'code']},
};
