// The REST client's exports, never called: the tests give the model a data source of their own.
const unused = () => {
  throw new Error('the REST client is not used in these tests');
};
export const fetchEvents = unused;
export const fetchSummary = unused;
export const fetchArtifacts = unused;
