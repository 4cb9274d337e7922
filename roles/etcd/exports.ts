/**
 * What other roles may use of the etcd role (its declared exports): where the members'
 * clients connect. Everything else in this folder is the role's own.
 */
export { clientEndpoints, clientUrls } from './render.ts';
